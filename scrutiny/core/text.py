"""Text from elsewhere made safe to judge: control characters, terminal escapes and lone surrogates removed."""

from __future__ import annotations

import re

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
"""Terminal escape sequences (colours, cursor moves): what a log pasted into a prompt carries."""
_UNSEEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""C0 and C1 control characters but tab and newline, DEL, and UTF-16 surrogates standing alone
(which no encoder takes)."""


def clean_text(text: str) -> str:
    """`text` without what nobody can see or encode: terminal escapes, control characters (a NUL, a
    bell; tabs and newlines stay) and lone surrogates. The rest is kept as written."""
    return _UNSEEN.sub("", _ESCAPES.sub("", text))
