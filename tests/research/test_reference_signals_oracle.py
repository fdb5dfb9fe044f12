"""itb's reading of the reference project's signal forms against the reference's own code.

Needs a checkout of asavinov/intelligent-trading-bot: set ``ITB_REFERENCE`` to its folder (its
``common/gen_signals.py`` imports numpy and pandas only). Skipped otherwise; none of its code is
part of itb or of this repository.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from itb.generators import generate

REFERENCE = os.environ.get("ITB_REFERENCE")
pytestmark = pytest.mark.skipif(
    not REFERENCE, reason="set ITB_REFERENCE to an intelligent-trading-bot checkout"
)

RNG = np.random.default_rng(5)
UP, DOWN = RNG.random(500), RNG.random(500)
UP[[3, 10]] = DOWN[[3, 10]]  # ties: up >= down counts as up


@pytest.fixture(scope="module")
def gen_signals() -> Iterator[ModuleType]:
    sys.path.insert(0, str(REFERENCE))
    try:
        yield importlib.import_module("common.gen_signals")
    finally:
        sys.path.remove(str(REFERENCE))
        for name in [m for m in sys.modules if m == "common" or m.startswith("common.")]:
            del sys.modules[name]


def reference_output(fn: Any, frame: pd.DataFrame, config: dict[str, Any]) -> np.ndarray:
    df, names = fn(frame.copy(), config)
    return df[names[0]].astype(float).to_numpy()


@pytest.mark.parametrize("combine", [None, "no_combine", "difference", "relative"])
@pytest.mark.parametrize("coefficient", [1.0, 2.5, 0])
def test_combine_as_the_reference_computes_it(
    gen_signals: ModuleType, combine: str | None, coefficient: float
) -> None:
    config: dict[str, Any] = {
        "columns": ["up", "down"],
        "names": "s",
        "coefficient": coefficient,
        "constant": 0.1,
    }
    if combine is not None:
        config["combine"] = combine
    expected = reference_output(
        gen_signals.generate_combine_scores, pd.DataFrame({"up": UP, "down": DOWN}), config
    )
    # itb applies a zero coefficient as written; the reference ignored it (`itb port` writes 1).
    ours = {**config, "coefficient": coefficient or 1.0}
    got = generate("signal", "combine", pl.DataFrame({"up": UP, "down": DOWN}), ours)["s"].to_numpy()
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("window", [10.0, 7.5, 12])
def test_smoothen_window_as_the_reference_computes_it(gen_signals: ModuleType, window: float) -> None:
    config = {"columns": ["up", "down"], "names": "e", "window": window}
    frame = pd.DataFrame({"up": UP, "down": DOWN})
    expected = reference_output(gen_signals.generate_smoothen_scores, frame, config)
    got = generate("signal", "smoothen", pl.DataFrame({"up": UP, "down": DOWN}), config)["e"]
    assert got.fill_null(np.nan).to_numpy() == pytest.approx(expected, rel=1e-12, nan_ok=True)
