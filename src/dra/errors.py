"""The one exception type the stage commands turn into a clean message and exit code 1, and the
"did you mean" hint such messages give."""

import difflib


class DraError(Exception):
    """A user-facing error: the message names the file or value and what was expected."""


def closest(name: str, valid) -> str:
    """' (did you mean X?)' for the valid name closest to a misspelt one, else ''."""
    match = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {match[0]}?)" if match else ""
