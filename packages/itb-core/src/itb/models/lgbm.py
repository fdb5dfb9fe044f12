"""Import LightGBM where the stages need it.

``import lightgbm`` also imports pandas when it is installed (1-2 s on a small machine). The local
backend's fork server imports LightGBM once with pandas hidden (``itb_local.zygote``), so stages it
forks find it loaded; elsewhere it is a plain import: a library call must not change which modules
its process can import, not even for a moment.
"""

from __future__ import annotations

from types import ModuleType


def import_lightgbm() -> ModuleType:
    import lightgbm

    return lightgbm
