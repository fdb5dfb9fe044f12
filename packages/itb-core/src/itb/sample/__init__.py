"""Bundled sample data and the default config that runs on it, so a ``pip install itb-core`` works
without a checkout: ``itb.default_config()``.

``btcusdt-1m.jsonc`` here is the repository's ``configs/btcusdt-1m.jsonc`` (a test keeps the two
identical); its data source is the bundled ``sample:BTCUSDT-1m-2024Q1``.
"""

from __future__ import annotations

from importlib import resources

from itb.config.loader import load_config
from itb.config.models import PipelineConfig

DEFAULT_CONFIG = "btcusdt-1m.jsonc"


def default_config_path() -> str:
    """The bundled default config file (inside the installed package)."""
    return str(resources.files(__name__) / DEFAULT_CONFIG)


def default_config(data_root: str = "./data") -> PipelineConfig:
    """The validated default pipeline (BTCUSDT 1m, 2024Q1 sample) writing under ``data_root``.

    ``data_root`` is any path or fsspec URL (``memory://x`` keeps everything in memory).
    """
    return load_config(default_config_path()).model_copy(update={"data_root": data_root})
