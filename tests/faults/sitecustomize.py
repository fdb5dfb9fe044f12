"""Loaded at start-up by Python processes whose ``PYTHONPATH`` holds this folder (see ``__init__``;
the test session puts it there for every process it starts).

Always: the network guard of ``tests/netguard.py`` (connections to 127.0.0.1 only).

With ``ITB_TEST_PAUSE_BEFORE_RENAME=NAME:SECONDS`` set, renaming a file onto a path ending with
``/NAME`` first sleeps SECONDS, so a test can kill the writer while its temporary file is complete
but not yet committed. ``ITB_TEST_PAUSE_BEFORE_REMOVE=NAME:SECONDS`` does the same before a
file ending with ``/NAME`` is removed (an in-place append's commit).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
try:
    import netguard

    netguard.install()
finally:
    del sys.path[0]


def _pause_on(event_name: str, setting: str, position: int) -> None:
    target, _, seconds = setting.rpartition(":")
    suffix = os.sep + target

    def pause(event: str, args: tuple[Any, ...]) -> None:
        path = args[position] if event == event_name else None
        if isinstance(path, str | bytes | os.PathLike) and os.fsdecode(path).endswith(suffix):
            time.sleep(float(seconds))

    sys.addaudithook(pause)


if os.environ.get("ITB_TEST_PAUSE_BEFORE_RENAME"):
    _pause_on("os.rename", os.environ["ITB_TEST_PAUSE_BEFORE_RENAME"], 1)
if os.environ.get("ITB_TEST_PAUSE_BEFORE_REMOVE"):
    _pause_on("os.remove", os.environ["ITB_TEST_PAUSE_BEFORE_REMOVE"], 0)
