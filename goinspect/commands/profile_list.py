"""Placeholder: being written in this session."""


class _Command:
    name = "list"
    help = "(not yet written)"

    def prepare_parser(self, parser):
        pass

    def run(self, args):
        raise NotImplementedError


COMMAND = _Command()
