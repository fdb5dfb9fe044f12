"""highlow2 labels against a brute-force reference, on random walks and on real candles."""

from __future__ import annotations

from importlib import resources

import numpy as np
import polars as pl
import pytest
from itb.generators import generate
from itb.generators.labels import first_cross


def brute_force_highlow2(close, high, low, threshold, tolerance, horizon, function):  # type: ignore[no-untyped-def]
    n = len(close)
    out: list[bool | None] = []
    for t in range(n):
        if t >= n - horizon:
            out.append(None)
            continue
        frac = threshold / 100
        if function == "high":
            target, against = close[t] * (1 + frac), close[t] * (1 - tolerance * frac)
        else:
            target, against = close[t] * (1 - frac), close[t] * (1 + tolerance * frac)
        label = False
        for j in range(t + 1, t + horizon + 1):
            hit = high[j] >= target if function == "high" else low[j] <= target
            adverse = low[j] <= against if function == "high" else high[j] >= against
            if adverse:
                break  # a candle touching both counts as against
            if hit:
                label = True
                break
        out.append(label)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("function", ["high", "low"])
def test_highlow2_equals_brute_force_on_random_walks(seed: int, function: str) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    high = close * (1 + np.abs(rng.normal(0, 0.003, n)))
    low = close * (1 - np.abs(rng.normal(0, 0.003, n)))
    horizon = int(rng.integers(1, 40))
    threshold, tolerance = float(rng.choice([0.5, 1.0, 2.0])), float(rng.choice([0.2, 0.5, 1.0]))
    df = pl.DataFrame({"close": close, "high": high, "low": low})
    out = generate(
        "label",
        "highlow2",
        df,
        {
            "function": function,
            "thresholds": [threshold],
            "tolerance": tolerance,
            "horizon": horizon,
            "names": ["y"],
        },
    )
    expected = brute_force_highlow2(close, high, low, threshold, tolerance, horizon, function)
    assert out["y"].to_list() == expected


def test_highlow2_on_real_candles_and_null_tail() -> None:
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    df = pl.read_parquet(str(path)).slice(20_000, 3_000)
    out = generate(
        "label",
        "highlow2",
        df,
        {"function": "high", "thresholds": [0.5], "tolerance": 0.2, "horizon": 60, "names": ["up"]},
    )
    expected = brute_force_highlow2(
        df["close"].to_numpy(), df["high"].to_numpy(), df["low"].to_numpy(), 0.5, 0.2, 60, "high"
    )
    assert out["up"].to_list() == expected
    assert out["up"].tail(60).null_count() == 60
    assert out["up"].head(2940).null_count() == 0
    assert 0 < out["up"].sum() < 2940  # both classes occur on real data


def test_first_cross_matches_scan() -> None:
    rng = np.random.default_rng(7)
    for _ in range(100):
        n, horizon = int(rng.integers(1, 80)), int(rng.integers(1, 30))
        values = rng.normal(size=n).cumsum()
        levels = values + rng.normal(size=n)
        for up in (True, False):
            got = first_cross(values, levels, horizon, up)
            for t in range(n):
                hits = [
                    j
                    for j in range(1, horizon + 1)
                    if t + j < n and (values[t + j] >= levels[t] if up else values[t + j] <= levels[t])
                ]
                assert got[t] == (hits[0] if hits else horizon + 1)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("highlow2", {"columns": ["close", "high", "low"], "function": "high", "thresholds": [1.0],
                      "tolerance": 0.2, "horizon": 120, "names": ["up"]}),
        ("highlow", {"columns": ["close", "high", "low"], "function": "high", "thresholds": [1.0],
                     "horizon": 120, "names": ["up"]}),
    ],
)  # fmt: skip
def test_forward_labels_declare_no_history_and_do_not_depend_on_the_start(
    name: str, config: dict[str, object]
) -> None:
    """A forward label at row t reads rows t .. t + horizon: the declared lookback is zero rows, and
    labels computed on a table that starts later are the same for every row both tables have."""
    from itb.generators.registry import get_generator

    generator = get_generator("label", name)
    assert generator.lookback is not None
    assert generator.lookback(generator.validate(config)).total == 0
    path = resources.files("itb.sample").joinpath("BTCUSDT-1m-2024Q1.parquet")
    df = pl.read_parquet(str(path)).head(30_000)
    full = generate("label", name, df, config)["up"]
    cut = generate("label", name, df.slice(10_000), config)["up"]
    assert cut.to_list() == full.slice(10_000).to_list()
    assert full.slice(10_000, 1000).null_count() == 0  # the comparison covers real values


def test_topbot2_declares_that_it_needs_the_whole_series() -> None:
    from itb.generators.registry import get_generator

    generator = get_generator("label", "topbot2")
    assert generator.lookback is not None
    config = generator.validate({"columns": "close", "function": "top", "level": 0.02, "tolerances": [0.1],
                                 "names": ["top"]})  # fmt: skip
    assert generator.lookback(config).cumulative
