"""itb: an ML trading-signal pipeline that runs the same way on a laptop and in the cloud.

The public API is small on purpose::

    import itb
    config = itb.load_config("configs/btcusdt-1m.jsonc")
    result = itb.run_pipeline(config, backend="local")

Generators are plain functions over polars DataFrames (pandas accepted at the edge), see
:mod:`itb.generators`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["ConfigError", "PipelineConfig", "__version__", "load_config", "run_pipeline"]

if TYPE_CHECKING:
    from itb.config import ConfigError, PipelineConfig, load_config
    from itb.runs.runner import run_pipeline


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import itb` (and so every stage process) fast.
    if name in ("ConfigError", "PipelineConfig", "load_config"):
        from itb import config

        return getattr(config, name)
    if name == "run_pipeline":
        from itb.runs.runner import run_pipeline

        return run_pipeline
    raise AttributeError(name)
