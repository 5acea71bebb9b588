"""One module per subcommand, each exposing ``COMMAND`` (see ``goinspect.cli``)."""
