"""``backend.options.local``: the settings of the local-process backend, checked by ``itb validate``."""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

from itb.config.loader import format_loc
from itb.errors import ConfigError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    python: str = Field(default=sys.executable, description="The interpreter that runs stage processes.")
    start: Literal["fork", "exec"] = Field(
        default="fork" if hasattr(os, "fork") else "exec",
        description="fork: from a fork server that imported itb once; exec: a fresh process per stage.",
    )
    preload: list[str] = Field(
        default_factory=list, description="More modules for the fork server to import up front."
    )

    @field_validator("start")
    @classmethod
    def _fork_available(cls, start: str) -> str:
        if start == "fork" and not hasattr(os, "fork"):
            raise ValueError("'fork' is not available on this system")
        return start


def parse_options(options: dict[str, Any]) -> LocalOptions:
    """The validated options; the first problem as a :class:`ConfigError` with its key path."""
    try:
        return LocalOptions.model_validate(options)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = format_loc(("backend", "options", "local", *error["loc"]))
        raise ConfigError(f"{where}: {error['msg']}") from None
