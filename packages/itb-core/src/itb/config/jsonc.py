"""JSON with comments: strip ``//`` and ``/* */`` comments and trailing commas, keep strings intact.

Comments are replaced by spaces (newlines kept) so that line and column numbers in JSON errors still
point at the user's file.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # a string, escapes included: left alone
    r"|//[^\n]*"  # line comment
    r"|/\*.*?\*/",  # block comment
    re.DOTALL,
)
_TRAILING_COMMA = re.compile(r'"(?:[^"\\]|\\.)*"|,(\s*[\]}])', re.DOTALL)


def _blank(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith('"'):
        return text
    return "".join("\n" if ch == "\n" else " " for ch in text)


def strip_comments(text: str) -> str:
    """Return ``text`` with comments blanked out and trailing commas removed."""
    text = _TOKEN.sub(_blank, text)
    return _TRAILING_COMMA.sub(lambda m: " " + m.group(1) if m.group(1) is not None else m.group(0), text)


def loads(text: str) -> Any:
    """Parse JSONC text. Raises :class:`json.JSONDecodeError` with positions in the original text."""
    return json.loads(strip_comments(text))
