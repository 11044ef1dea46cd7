"""Names that come from the disk (run ids, class folders, config strings, paths) made safe to
show: always text, never markup, terminal control, HTML or mathtext. No UI code.

A folder name can hold anything but ``/`` and NUL: an ESC sequence that recolours or clears the
terminal, a newline that splits a one-line error, ``[link=...]`` that Rich/Textual would parse,
``<script>`` that a Markdown viewer would run, ``$...$`` that matplotlib would typeset.
"""

from __future__ import annotations

import html
import re

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a line shows.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e"
                                  r"\u2066-\u2069]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, newlines: bool = False) -> str:
    """``text`` with every control character written as an escape (``\\x1b``), so it cannot
    move the cursor, recolour the terminal or (unless ``newlines``) take more than one line."""
    return (_CONTROL_BUT_NEWLINE if newlines else _CONTROL).sub(_escaped, str(text))


def markup_safe(text: object) -> str:
    """A name to put inside Rich/Textual markup: printable, its brackets escaped."""
    from rich.markup import escape

    return escape(printable(text))


def markdown_safe(text: object) -> str:
    """A name for Markdown text: printable, with no HTML a viewer would render (``<``, ``&``
    as entities; ``|`` escaped for table cells)."""
    return html.escape(printable(text), quote=False).replace("|", "\\|")


def plot_label(text: object) -> str:
    """A name for a matplotlib label: printable, with ``$`` escaped so no mathtext is parsed
    (an unbalanced or bad ``$...$`` would fail the whole figure)."""
    return printable(text).replace("$", r"\$")


def folder_names(names: list[str]) -> list[str]:
    """One distinct, harmless folder name per name (same order): a report's figures of two
    runs that share an id must not overwrite each other, and no id may climb out (``..``)."""
    out: list[str] = []
    for name in names:
        base = re.sub(r"[^\w.+-]", "_", printable(name)).strip(".") or "run"
        slug, n = base, 1
        while slug in out:
            n += 1
            slug = f"{base}-{n}"
        out.append(slug)
    return out
