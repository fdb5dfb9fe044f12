"""Write ported config data as JSONC: each top-level key under a comment naming the reference keys
it came from, so a user can find their old settings in the new file."""

from __future__ import annotations

import json
from typing import Any

HEADER = (
    "// Ported by `itb port` from {source} (an asavinov/intelligent-trading-bot config).\n"
    "// `itb port` printed what changed meaning, what was dropped and what itb does not support.\n"
)
#: Values whose one-line JSON fits in this width (after the indent) stay on one line.
WIDTH = 110


def _dump(value: Any, indent: int) -> str:
    """JSON of ``value``: on one line when it fits, else one entry per line, nested likewise."""
    inline = json.dumps(value, ensure_ascii=False)
    if len(inline) + indent <= WIDTH or not isinstance(value, dict | list) or not value:
        return inline
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {_dump(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_dump(v, indent + 2)}" for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def render_jsonc(data: dict[str, Any], origins: dict[str, list[str]], source: str) -> str:
    """``data`` as JSONC, keys in their order, each preceded by ``// from: <reference keys>``."""
    parts = []
    for key, value in data.items():
        came_from = ", ".join(origins.get(key, [])) or "itb default"
        parts.append(f"  // from: {came_from}\n  {json.dumps(key)}: {_dump(value, 2)}")
    return HEADER.format(source=source) + "{\n" + ",\n\n".join(parts) + "\n}\n"
