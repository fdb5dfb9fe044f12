"""itb: an ML trading-signal pipeline that runs the same way on a laptop and in the cloud.

The public API is small on purpose::

    import itb
    config = itb.default_config()  # or itb.load_config("my-config.jsonc")
    result = itb.run_pipeline(config, backend="inprocess")

Generators are plain functions over polars DataFrames (pandas accepted at the edge), see
:mod:`itb.generators`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["ConfigError", "PipelineConfig", "__version__", "default_config", "load_config", "run_pipeline"]

if TYPE_CHECKING:
    from itb.config import ConfigError, PipelineConfig, load_config
    from itb.runs.runner import run_pipeline
    from itb.sample import default_config


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import itb` (and so every stage process) fast.
    if name in ("ConfigError", "PipelineConfig", "load_config"):
        from itb import config

        return getattr(config, name)
    if name == "default_config":
        from itb.sample import default_config

        return default_config
    if name == "run_pipeline":
        from itb.runs.runner import run_pipeline

        return run_pipeline
    raise AttributeError(name)
