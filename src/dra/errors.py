"""The one exception type the stage commands turn into a clean message and exit code 1."""


class DraError(Exception):
    """A user-facing error: the message names the file or value and what was expected."""
