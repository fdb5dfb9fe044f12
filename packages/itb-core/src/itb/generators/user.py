"""User feature functions referenced as ``module:function`` in a feature set's ``generator``.

The function receives the merged table and the set's ``config`` dict and returns a table of new
columns with the same number of rows (polars, or pandas if its first parameter is annotated as a
pandas DataFrame). Declare the columns it makes in ``config["outputs"]`` so that ``itb validate``
can check references to them; undeclared columns are accepted at run time.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import polars as pl
from pydantic import ConfigDict

from itb.config.models import Model
from itb.errors import ConfigError, DataError
from itb.generators.frames import to_polars
from itb.generators.registry import Generator


class UserConfig(Model):
    model_config = ConfigDict(extra="allow")
    outputs: list[str] | None = None


def resolve(reference: str) -> Callable[..., Any]:
    module_name, _, attr = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import module {module_name!r} for user function {reference!r}: {exc}"
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"{reference!r}: module {module_name!r} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


def _wants_pandas(fn: Callable[..., Any]) -> bool:
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        return False
    annotation = str(params[0].annotation)
    return "pandas" in annotation or "pd." in annotation


def user_generator(reference: str) -> Generator:
    fn = resolve(reference)

    def run(df: pl.DataFrame, cfg: UserConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
        config = cfg.model_dump(exclude={"outputs"})
        result = fn(df.to_pandas() if _wants_pandas(fn) else df, config)
        out = to_polars(result)
        if out.height != df.height:
            raise DataError(f"user function {reference!r} returned {out.height} rows, expected {df.height}")
        return out.rename({c: f"{feature_prefix}{c}" for c in out.columns}) if feature_prefix else out

    def outputs(cfg: UserConfig, column_prefix: str, feature_prefix: str) -> list[str]:
        return [f"{feature_prefix}{c}" for c in cfg.outputs or []]

    return Generator(reference, "feature", UserConfig, run, outputs, doc=inspect.getdoc(fn) or "")


def source_fingerprint(reference: str) -> str:
    """SHA-256 of the source of the function's whole module, so that editing the function or anything
    it uses from its module (a helper, a constant) invalidates the features stage."""
    fn = resolve(reference)
    module = inspect.getmodule(fn)
    try:
        source = inspect.getsource(module if module is not None else fn)
    except (OSError, TypeError):  # no source (a built-in, a frozen module): the name is all there is
        return reference
    return "sha256:" + hashlib.sha256(source.encode()).hexdigest()
