"""Import LightGBM without its optional pandas/dask integrations.

``import lightgbm`` imports pandas when it is installed (1-2 s on a small machine), although the
stages hand it numpy arrays only. Every train and predict process pays that at start-up, so the
optional modules are hidden for the duration of the import; they stay importable afterwards.
"""

from __future__ import annotations

import sys
from types import ModuleType

_OPTIONAL = ("pandas", "dask", "dask.array", "dask.dataframe", "sklearn", "matplotlib", "graphviz")


def import_lightgbm() -> ModuleType:
    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    hidden = {name: sys.modules.get(name) for name in _OPTIONAL if name not in sys.modules}
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        import lightgbm
    finally:
        for name in hidden:
            del sys.modules[name]
    return lightgbm
