"""Execution backends: the plugin interface (pluggy hooks, entry-point group ``itb``).

A backend runs one stage run at a time per handle and is driven by the core runner, like Dagster's
step handler: ``launch`` starts it, ``poll`` reports its health, ``logs`` returns what it printed,
``cancel`` stops it. Plugins provide backends through the ``itb_backends`` hook
(:mod:`itb.plugins.hookspecs`).
"""

from itb.backends.base import Backend, BackendInfo, PollResult, StageRunSpec

__all__ = ["Backend", "BackendInfo", "PollResult", "StageRunSpec"]
