"""User generator functions referenced as ``module:function`` in a feature, label or signal set.

The function receives the table and the set's ``config`` dict and returns a table of new columns
with the same number of rows (polars, or pandas if its first parameter is annotated as a pandas
DataFrame). A function written for the reference project, ``fn(df, config, global_config,
model_store) -> (df, names)``, is recognised by its four parameters and gets a pandas table.
Declare the columns it makes in ``config["outputs"]`` so that ``itb validate`` can check references
to them; undeclared columns are accepted at run time. A signal function may list the columns it
reads in ``config["columns"]``, which ``itb validate`` checks like a built-in's.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from itb.errors import ConfigError, DataError
from itb.generators.frames import to_polars


class UserConfig(BaseModel):
    """A user function's ``config``: free-form, with two keys itb reads itself."""

    model_config = ConfigDict(extra="allow")
    outputs: list[str] | None = Field(default=None, description="Columns the function makes.")
    columns: str | list[str] = Field(default_factory=list, description="Columns the function reads.")


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


#: The reference project's user function: ``fn(df, config, global_config, model_store) -> (df, names)``.
REFERENCE_PARAMETERS = 4


def is_reference_style(fn: Callable[..., Any]) -> bool:
    """A function written for the reference project: four positional parameters (pandas table,
    set config, global config, model store); it returns the table and the names of its new columns."""
    params = [
        p for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]  # fmt: skip
    return len(params) == REFERENCE_PARAMETERS


def run_reference_style(fn: Callable[..., Any], df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """Call a reference-project function on a pandas copy of ``df`` and keep the columns it names.

    It gets no global config (an empty dict) and no model store (None): itb passes a set's settings
    in its own ``config``, and a function that needs trained state belongs in a train stage."""
    result = fn(df.to_pandas(), config, {}, None)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise DataError(f"{fn.__qualname__}: expected (df, names), as reference project functions return")
    table, names = result
    names = [names] if isinstance(names, str) else list(names)
    return to_polars(table[names])


class UserFunction:
    """Adapts ``fn(df, config) -> new columns`` to the generator calling convention."""

    def __init__(self, reference: str) -> None:
        self.reference = reference

    @cached_property
    def fn(self) -> Callable[..., Any]:
        return resolve(self.reference)

    def run(self, df: pl.DataFrame, cfg: UserConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
        config = cfg.model_dump(exclude={"outputs"}, exclude_unset=True)
        if is_reference_style(self.fn):
            out = run_reference_style(self.fn, df, config)
        else:
            out = to_polars(self.fn(df.to_pandas() if _wants_pandas(self.fn) else df, config))
        if out.height != df.height:
            raise DataError(
                f"user function {self.reference!r} returned {out.height} rows, expected {df.height}"
            )
        return out.rename({c: f"{feature_prefix}{c}" for c in out.columns}) if feature_prefix else out

    def outputs(self, cfg: UserConfig, column_prefix: str, feature_prefix: str) -> list[str]:
        return [f"{feature_prefix}{c}" for c in cfg.outputs or []]


def user_fingerprints(sets: Iterable[Any]) -> dict[str, str]:
    """``module:function`` -> its module's source fingerprint, for the generator sets that name a user
    function: a stage that runs one is out of date when that module changes
    (``Stage.external_fingerprints``)."""
    return {s.generator: source_fingerprint(s.generator) for s in sets if ":" in s.generator}


def source_fingerprint(reference: str) -> str:
    """SHA-256 of the source of the function's whole module, so that editing the function or anything
    it uses from its module (a helper, a constant) invalidates the stage that runs it."""
    fn = resolve(reference)
    module = inspect.getmodule(fn)
    try:
        source = inspect.getsource(module if module is not None else fn)
    except (OSError, TypeError):  # no source (a built-in, a frozen module): the name is all there is
        return reference
    return "sha256:" + hashlib.sha256(source.encode()).hexdigest()
