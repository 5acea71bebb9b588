"""The few errors goinspect reports to a user, each with its exit code.

Every failure a user can cause (bad file, dead URL, wrong flag) is one of
these; the CLI prints its message as one line on stderr and exits with its
code. Anything else escaping is a bug in goinspect.
"""


class GoinspectError(Exception):
    """A failure explained by one sentence; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UsageError(GoinspectError):
    """The command line asks for something that cannot be done (unknown sample index, bad regex)."""

    exit_code = 2


class InputError(GoinspectError):
    """An input could not be read: missing file, refused or hanging URL, oversized stream."""

    exit_code = 3


class ProfileError(GoinspectError):
    """The bytes were read but are not a valid profile; the message names the defect."""

    exit_code = 4


class ToolchainError(GoinspectError):
    """A Go toolchain could not be installed, or a Go program could not be built or started."""

    exit_code = 5
