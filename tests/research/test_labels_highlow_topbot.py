"""highlow and topbot2 labels against brute-force references on random walks and real candles."""

from __future__ import annotations

from importlib import resources

import numpy as np
import polars as pl
import pytest
from itb.generators import generate


def brute_highlow(close, high, low, threshold, horizon, function, condition):  # type: ignore[no-untyped-def]
    n = len(close)
    out: list[bool | None] = []
    for t in range(n):
        if t + horizon >= n:
            out.append(None)
            continue
        if function == "high":
            move = (max(high[t + 1 : t + horizon + 1]) / close[t] - 1) * 100
        else:
            move = (1 - min(low[t + 1 : t + horizon + 1]) / close[t]) * 100
        out.append(bool(move >= threshold) if condition == "reach" else bool(move < threshold))
    return out


def random_walk(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 500))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    return close, close * (1 + np.abs(rng.normal(0, 0.003, n))), close * (1 - np.abs(rng.normal(0, 0.003, n)))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("function", ["high", "low"])
@pytest.mark.parametrize("condition", ["reach", "stay"])
def test_highlow_equals_brute_force(seed: int, function: str, condition: str) -> None:
    close, high, low = random_walk(seed)
    horizon = int(np.random.default_rng(seed).integers(1, 40))
    df = pl.DataFrame({"close": close, "high": high, "low": low})
    out = generate("label", "highlow", df, {"function": function, "condition": condition, "thresholds": [0.3, 1.0],  # noqa: E501
                                            "horizon": horizon, "names": ["a", "b"]})  # fmt: skip
    assert out["a"].to_list() == brute_highlow(close, high, low, 0.3, horizon, function, condition)
    assert out["b"].to_list() == brute_highlow(close, high, low, 1.0, horizon, function, condition)


def brute_topbot(values, is_max, level, tolerance):  # type: ignore[no-untyped-def]
    """A literal, list-based port of the reference's recursive splitting (inclusive intervals)."""
    v = [float(x) if is_max else -float(x) for x in values]
    raw = [float(x) for x in values]
    found = []
    intervals = [(0, len(v) - 1)]
    while intervals:
        a, b = intervals.pop()
        m = max(range(a, b + 1), key=lambda i: (v[i], -i))  # first maximum
        peak = raw[m]
        lv = peak - level * abs(peak) if is_max else peak + level * abs(peak)
        tv = peak - tolerance * abs(peak) if is_max else peak + tolerance * abs(peak)
        beyond = (lambda x, lim: x < lim) if is_max else (lambda x, lim: x > lim)
        left = next((i for i in range(m, a - 1, -1) if beyond(raw[i], lv)), None)
        right = next((i for i in range(m, b + 1) if beyond(raw[i], lv)), None)
        if left is not None and right is not None:
            lt = next(i for i in range(m, a - 1, -1) if beyond(raw[i], tv))
            rt = next(i for i in range(m, b + 1) if beyond(raw[i], tv))
            found.append((left, lt, m, rt, right))
        if left is not None and a < left:
            intervals.append((a, left))
        if right is not None and right < b:
            intervals.append((right, b))
    labels: list[bool | None] = [False] * len(v)
    for _, lt, _, rt, _ in found:
        for i in range(lt + 1, rt):
            labels[i] = True
    last = max((e[4] for e in found), default=-1)
    return [None if i > last else x for i, x in enumerate(labels)]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("function", ["top", "bot"])
def test_topbot2_equals_brute_force(seed: int, function: str) -> None:
    close, _, _ = random_walk(100 + seed)
    level = float(np.random.default_rng(seed).choice([0.005, 0.01, 0.02]))
    out = generate("label", "topbot2", pl.DataFrame({"close": close}),
                   {"function": function, "level": level, "tolerances": [0.2, 1.0], "names": ["x", "y"]})  # fmt: skip  # noqa: E501
    assert out["x"].to_list() == brute_topbot(close, function == "top", level, level * 0.2)
    assert out["y"].to_list() == brute_topbot(close, function == "top", level, level * 1.0)


def test_topbot2_on_real_candles_has_a_null_tail() -> None:
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    df = pl.read_parquet(str(path)).slice(50_000, 4_000)
    out = generate(
        "label", "topbot2", df, {"function": "top", "level": 0.005, "tolerances": [0.3], "names": ["top"]}
    )
    assert out["top"].to_list() == brute_topbot(df["close"].to_numpy(), True, 0.005, 0.0015)
    assert 0 < out["top"].sum() < 4_000
    assert out["top"][-1] is None


def test_highlow_null_tail_on_real_candles() -> None:
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    df = pl.read_parquet(str(path)).slice(20_000, 3_000)
    out = generate(
        "label", "highlow", df, {"function": "high", "thresholds": [0.5], "horizon": 60, "names": ["up"]}
    )
    assert out["up"].tail(60).null_count() == 60 and out["up"].head(2940).null_count() == 0
    c, h, lo = (df[k].to_numpy() for k in ("close", "high", "low"))
    assert out["up"].to_list() == brute_highlow(c, h, lo, 0.5, 60, "high", "reach")
