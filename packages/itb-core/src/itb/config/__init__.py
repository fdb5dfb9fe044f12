"""Load and validate pipeline configs (JSON or JSONC) into :class:`PipelineConfig`."""

from itb.config.loader import load_config, parse_config, validate_config
from itb.config.models import PipelineConfig
from itb.errors import ConfigError

__all__ = ["ConfigError", "PipelineConfig", "load_config", "parse_config", "validate_config"]
