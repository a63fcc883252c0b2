"""Text from configs, datasets and runs (class folder names, dataset labels, variant labels, captions)
made inert for each format a table or the report is written in. Our own markup (bold best, flags) is
added around already-escaped text, never taken from it."""

from __future__ import annotations

import html
import re

_LATEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#",
          "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX))
_RST_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def one_line(text) -> str:
    """Whitespace runs (newlines included) as one space: a value can start no new line or block."""
    return " ".join(str(text).split())


def html_text(text) -> str:
    return html.escape(str(text), quote=True)


def latex_text(text) -> str:
    """Every LaTeX special character as its literal; one line (a newline would end a `%` comment)."""
    return _LATEX_RE.sub(lambda m: _LATEX[m.group(0)], one_line(text))


def markdown_text(text) -> str:
    """A cell of a pipe table: a `|` would end the cell, `<` could open inline HTML; emphasis, code
    and link characters are taken literally (`_` is left: names like metal_nut stay readable)."""
    return re.sub(r"([\\|*`\[\]<>])", r"\\\1", one_line(text))


def rst_text(text) -> str:
    """Plain text for reStructuredText (a report caption, the summary): one line, every punctuation
    character backslash-escaped, so no directive (`.. raw::`), role, link or substitution can form.
    As a side effect `<` is always followed by a backslash, so the text never holds `</` (which
    would close the <script> element that Snakemake's report embeds its parameters in)."""
    return _RST_SPECIAL.sub(r"\\\1", one_line(text))


def mpl_text(text) -> str:
    """A label for matplotlib: `$` would start mathtext."""
    return one_line(text).replace("$", r"\$")
