"""Loaded at start-up by Python processes whose ``PYTHONPATH`` holds this folder (see ``__init__``).

With ``ITB_TEST_PAUSE_BEFORE_RENAME=NAME:SECONDS`` set, renaming a file onto a path ending with
``/NAME`` first sleeps SECONDS, so a test can kill the writer while its temporary file is complete
but not yet committed.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

_setting = os.environ.get("ITB_TEST_PAUSE_BEFORE_RENAME")
if _setting:
    _target, _, _seconds = _setting.rpartition(":")
    _suffix = os.sep + _target

    def _pause_before_rename(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.rename" and isinstance(args[1], str | bytes | os.PathLike):
            destination = os.fsdecode(args[1])
            if destination.endswith(_suffix):
                time.sleep(float(_seconds))

    sys.addaudithook(_pause_before_rename)
