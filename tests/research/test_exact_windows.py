"""Feature generators are exact per window, independent of where the data starts, and gap-local.

Oracles: exact rational arithmetic (``exact_reference``) on random and flat windows of real candles;
the full-history values themselves for start independence and declared lookbacks; the positions of
missing rows for gaps (an output is null exactly when its declared history reaches a missing row).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from itb.config.models import GeneratorSet, SignalSet
from itb.generators import generate, get_generator
from itb.generators.history import History, decay_rows
from itb.generators.lookback import lookback_of_sets
from itb.generators.talib_features import SPECS

from tests.research.exact_reference import exact

SHARED = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "binance" / "spot" / "BTCUSDT-1m.parquet"
)
CUT = 60_000  # rows dropped from the start for the start-independence check
SETTLE = 3_000  # rows after the cut (or a gap) from which everything must agree


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    return pl.read_parquet(str(resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"))


def talib_entry(function: str) -> str | dict[str, Any]:
    """A ``functions`` entry for every native function; CORREL/BETA get two input columns."""
    if SPECS[function].inputs == ("real0", "real1"):
        return {"name": function, "columns": ["high", "low"] if function == "CORREL" else ["open", "close"]}
    return function


#: One generator set per native talib function (windows 5 and 60 where it has a period), each
#: itbstats function, each itblib function: (generator, config) pairs run one at a time so a
#: failure names its function.
SETS: list[tuple[str, dict[str, Any]]] = [
    ("talib", {"columns": ["close"], "functions": [talib_entry(f)], "windows": [5, 60]})
    for f in sorted(SPECS)
]
SETS += [
    ("itbstats", {"columns": ["close"], "functions": [f], "windows": [5, 60]})
    for f in ("skew", "kurtosis", "lsbm", "fmax", "fmin", "mean", "std", "area", "slope")
]
SETS += [
    ("itblib", {"base_window": 60, "windows": [5, 15], "functions": [f]})
    for f in ("close_WMA", "close_STD", "volume_SMA", "span_SMA", "trades_SMA", "tb_base_SMA", "close_AREA",
              "close_SLOPE", "volume_SLOPE")
]  # fmt: skip


def set_id(item: tuple[str, dict[str, Any]]) -> str:
    generator, config = item
    entry = config["functions"][0]
    return f"{generator}-{entry['name'] if isinstance(entry, dict) else entry}"


def history(generator: str, config: dict[str, Any]) -> History:
    g = get_generator("feature", generator)
    assert g.lookback is not None, f"{generator} declares no lookback"
    return g.lookback(g.validate(config))


def assert_same(ours: pl.DataFrame, full: pl.DataFrame, recursive: bool) -> None:
    """Windowed values within 1e-12 relative (they are bit for bit); recursive ones within 1e-9."""
    rtol = 1e-9 if recursive else 1e-12
    for name in full.columns:
        a, b = ours[name].to_numpy(), full[name].to_numpy()
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        scale = np.maximum(np.abs(b), 1e-300)
        np.testing.assert_array_less(np.nan_to_num(np.abs(a - b) / scale), rtol * (1 + 1e-9), err_msg=name)


# --------------------------------------------------------------------------------------------------
# Exact arithmetic.


def test_stddev_and_var_equal_exact_arithmetic_including_flat_windows(sample: pl.DataFrame) -> None:
    """``close_STDDEV_*`` / ``close_VAR_*`` within 1e-9 of the price level (VAR: its square) of
    exact rational arithmetic on 1,500 random rows per window, and exactly 0 in every flat window
    (TA-Lib 0.6's running sums gave up to ~0.01 there)."""
    windows = [5, 10, 15, 60]
    out = generate(
        "feature", "talib", sample, {"columns": ["close"], "functions": ["STDDEV", "VAR"], "windows": windows}
    )
    close = sample["close"].to_numpy()
    level = float(close.max())
    rng = np.random.default_rng(7)
    inputs = {"close": close}
    flat_total = 0
    for w in windows:
        stddev, variance = out[f"close_STDDEV_{w}"].to_numpy(), out[f"close_VAR_{w}"].to_numpy()
        view = np.lib.stride_tricks.sliding_window_view(close, w)
        flat = np.concatenate([np.zeros(w - 1, dtype=bool), view.max(axis=1) == view.min(axis=1)])
        flat_total += int(flat.sum())
        assert (stddev[flat] == 0.0).all() and (variance[flat] == 0.0).all()
        for t in rng.integers(w - 1, close.size, 1_500):
            assert abs(stddev[t] - exact("STDDEV", inputs, int(t), w)) <= 1e-9 * level
            assert abs(variance[t] - exact("VAR", inputs, int(t), w)) <= 1e-9 * level * level
    assert flat_total >= 10  # the sample's flat windows (a quiet minute repeated) are all checked


@pytest.mark.parametrize(
    "function",
    ["SMA", "SUM", "WMA", "LINEARREG", "LINEARREG_SLOPE", "LINEARREG_INTERCEPT", "LINEARREG_ANGLE", "TSF",
     "CCI", "MFI", "CORREL", "BETA"],
)  # fmt: skip
@pytest.mark.parametrize("window", [2, 14, 60])
def test_windowed_functions_equal_exact_arithmetic(sample: pl.DataFrame, function: str, window: int) -> None:
    """Random rows, plus rows in flat stretches, against exact rational arithmetic: within 1e-9
    relative to the value's natural scale (price level for prices, 100 for oscillators, 1 else)."""
    from itb.generators import indicators

    a = {c: sample[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
    a["real0"], a["real1"] = (a["high"], a["low"]) if function == "CORREL" else (a["open"], a["close"])
    if function in ("CCI",):
        ours = indicators.cci(a["high"], a["low"], a["close"], window)
    elif function == "MFI":
        ours = indicators.mfi(a["high"], a["low"], a["close"], a["volume"], window)
    elif function in ("CORREL", "BETA"):
        ours = getattr(indicators, function.lower())(a["real0"], a["real1"], window)
    else:
        ours = indicators.FUNCTIONS[function][0](a["close"], window)
    level = float(a["close"].max())
    scale = {"SUM": level * window, "CCI": 100.0, "MFI": 100.0, "CORREL": 1.0, "BETA": 1.0,
             "LINEARREG_ANGLE": 1.0}.get(function, level)  # fmt: skip
    rng = np.random.default_rng(window)
    flat_rows = np.flatnonzero(np.r_[False, np.diff(a["close"]) == 0])[:50] + window
    rows = np.concatenate(
        [rng.integers(window + 1, a["close"].size, 150 if window < 60 else 40), flat_rows[:20]]
    )
    for t in rows[rows < a["close"].size]:
        expected = exact(function, a, int(t), window)
        assert abs(ours[t] - expected) <= 1e-9 * max(abs(expected), scale), (function, t, ours[t], expected)


# --------------------------------------------------------------------------------------------------
# Start independence and declared lookbacks.


@pytest.mark.parametrize("item", SETS, ids=set_id)
def test_values_do_not_depend_on_where_the_data_starts(
    sample: pl.DataFrame, item: tuple[str, dict[str, Any]]
) -> None:
    """The sample and the sample minus its first 60,000 rows agree from 3,000 rows past the cut."""
    generator, config = item
    full = generate("feature", generator, sample, config)[CUT + SETTLE :]
    cut = generate("feature", generator, sample[CUT:], config)[SETTLE:]
    h = history(generator, config)
    if h.cumulative:  # OBV: a level from the start; its changes agree (to rounding of the level)
        for name in full.columns:
            a, b = cut[name].to_numpy(), full[name].to_numpy()
            np.testing.assert_allclose(np.diff(a), np.diff(b), rtol=0, atol=1e-12 * np.abs(b).max())
        return
    # Recursive values agree to 1e-9 from 3,000 rows on (ADX(60)'s declared warm-up, for 1e-12, is
    # longer: it is checked by the lookback test below).
    assert_same(cut, full, recursive=h.warmup > 0)


SIGNALS = [
    {"columns": "s", "window": 15, "method": "rolling", "names": "out"},
    {"columns": "s", "window": 15, "method": "ewm", "names": "out"},
    {"columns": "s", "window": 120, "method": "ewm", "names": "out"},
]


@pytest.mark.parametrize("item", SETS, ids=set_id)
def test_declared_lookback_reproduces_the_last_rows(
    sample: pl.DataFrame, item: tuple[str, dict[str, Any]]
) -> None:
    """The last k values computed from ``rows + warmup + k`` rows equal the full-history values."""
    generator, config = item
    h = history(generator, config)
    if h.cumulative:
        assert config["functions"] == ["OBV"]  # the only native cumulative output
        return
    k = 500
    full = generate("feature", generator, sample, config)[-k:]
    tail = generate("feature", generator, sample[-(h.total + k) :], config)[-k:]
    assert_same(tail, full, recursive=h.warmup > 0)
    if h.rows > 0 and generator == "talib":  # and tight: one row fewer changes the first value
        short = generate("feature", generator, sample[-(h.rows - 1 + k) :], config)[-k:]
        assert any(short[c][0] != full[c][0] or short[c].is_null()[0] for c in short.columns)


@pytest.mark.parametrize("config", SIGNALS, ids=lambda c: f"{c['method']}-{c['window']}")
def test_smoothen_lookback(sample: pl.DataFrame, config: dict[str, Any]) -> None:
    scores = sample.select((pl.col("close").pct_change() * 100).clip(-1, 1).alias("s"))
    g = get_generator("signal", "smoothen")
    assert g.lookback is not None
    h = g.lookback(g.validate(config))
    k = 500
    full = generate("signal", "smoothen", scores, config)[-k:]
    tail = generate("signal", "smoothen", scores[-(h.total + k) :], config)[-k:]
    assert_same(tail, full, recursive=h.warmup > 0)


def test_lookback_of_sets_is_the_largest_declaration() -> None:
    sets = [
        GeneratorSet(
            generator="talib",
            config={"columns": ["close"], "functions": ["SMA", "STDDEV"], "windows": [5, 60]},
        ),
        GeneratorSet(
            generator="itbstats", config={"columns": ["close"], "functions": ["skew"], "windows": [120]}
        ),
    ]
    assert lookback_of_sets(sets, "feature") == History(rows=119)
    sets.append(
        GeneratorSet(generator="talib", config={"columns": ["close"], "functions": ["EMA"], "windows": [30]})
    )
    assert lookback_of_sets(sets, "feature") == History(rows=119, warmup=decay_rows(2 / 31))
    assert decay_rows(2 / 31) == math.ceil(math.log(1e-12) / math.log(1 - 2 / 31))
    sets.append(GeneratorSet(generator="talib", config={"columns": ["close"], "functions": ["OBV"]}))
    assert lookback_of_sets(sets, "feature").cumulative
    signals = [
        SignalSet(generator="combine", config={"columns": ["a", "b"]}),
        SignalSet(generator="smoothen", config={"columns": "s", "window": 9}),
    ]
    assert lookback_of_sets(signals, "signal") == History(rows=8)


# --------------------------------------------------------------------------------------------------
# Gaps and bad values.


def per_window(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One config per window: the outputs of one window share one declared history."""
    return [{**config, "windows": [w]} for w in config.get("windows", [])] or [config]


def expected_nulls(missing: np.ndarray, rows: int) -> np.ndarray:
    """Rows whose last ``rows + 1`` rows (their declared history and themselves) include a missing
    row, or reach before the data start."""
    padded = np.concatenate([np.ones(rows, dtype=np.int64), missing.astype(np.int64)])
    counts = np.convolve(padded, np.ones(rows + 1, dtype=np.int64))[rows : rows + missing.size]
    return counts > 0


@pytest.fixture(scope="module")
def outage() -> tuple[pl.DataFrame, np.ndarray]:
    """BTCUSDT 2023-03..04 on a full minute raster: the 2023-03-24 outage as null rows (what merge
    with ``gaps: "null"`` produces)."""
    if not SHARED.exists():
        pytest.skip(f"shared data not available: {SHARED}")
    start, end = 1677628800000, 1682899140000  # 2023-03-01 00:00, 2023-04-30 23:59 UTC
    candles = pl.read_parquet(SHARED).filter(pl.col("timestamp").is_between(start, end))
    raster = pl.DataFrame({"timestamp": pl.int_range(start, end + 60_000, 60_000, eager=True)})
    df = raster.join(candles, on="timestamp", how="left")
    missing = df["close"].is_null().to_numpy()
    assert 70 <= missing.sum() <= 200  # the 80-minute outage (and nothing big besides)
    return df, missing


@pytest.mark.parametrize("item", [s for s in SETS if s[0] == "talib"], ids=set_id)
def test_talib_outage_is_local(
    outage: tuple[pl.DataFrame, np.ndarray], item: tuple[str, dict[str, Any]]
) -> None:
    """Null exactly where the declared history reaches the outage (or the data start); never NaN;
    3,000 rows after the outage nothing is null."""
    df, missing = outage
    generator, whole = item
    last_gap = int(np.flatnonzero(missing)[-1])
    for config in per_window(whole):
        out = generate("feature", generator, df, config)
        nulls = expected_nulls(missing, history(generator, config).rows)
        for name in out.columns:
            column = out[name]
            assert not column.is_nan().any(), name
            np.testing.assert_array_equal(column.is_null().to_numpy(), nulls, err_msg=name)
            assert column[last_gap + SETTLE :].null_count() == 0


@pytest.mark.parametrize("item", [s for s in SETS if s[0] != "talib"], ids=set_id)
def test_stats_outage_is_local(
    outage: tuple[pl.DataFrame, np.ndarray], item: tuple[str, dict[str, Any]]
) -> None:
    """itbstats/itblib use the reference's ``min_periods`` rule (a window with enough known values
    still has a value), so: before and after the outage the values equal those computed from that
    stretch alone (bit for bit), rows whose whole history is inside the outage are null, never NaN."""
    df, missing = outage
    generator, config = item
    out = generate("feature", generator, df, config)
    h = history(generator, config)
    gap = np.flatnonzero(missing)
    first_gap, last_gap = int(gap[0]), int(gap[-1])
    before = generate("feature", generator, df[:first_gap], config)
    after = generate("feature", generator, df[last_gap + 1 :], config)
    inside = ~expected_nulls(~missing, h.rows)  # every row of the history missing
    inside[: h.rows] = False
    for name in out.columns:
        column = out[name]
        assert not column.is_nan().any(), name
        assert column.is_null().to_numpy()[inside].all(), name
        np.testing.assert_array_equal(column.to_numpy()[:first_gap], before[name].to_numpy(), err_msg=name)
        np.testing.assert_array_equal(
            column.to_numpy()[last_gap + 1 + h.rows :], after[name].to_numpy()[h.rows :], err_msg=name
        )


def test_nan_and_inf_give_null_only_in_their_windows(sample: pl.DataFrame) -> None:
    """A NaN and an inf in the close: null (never NaN) exactly in the outputs whose declared history
    holds them; every other value equals the clean computation."""
    clean = sample.head(20_000)
    close = clean["close"].to_numpy().copy()
    close[5_000], close[12_000] = np.nan, np.inf
    dirty = clean.with_columns(pl.Series("close", close))
    missing = ~np.isfinite(close)
    for generator, config in [(g, c) for g, whole in SETS if g == "talib" for c in per_window(whole)]:
        out = generate("feature", generator, dirty, config)
        reference = generate("feature", generator, clean, config)
        h = history(generator, config)
        entry = config["functions"][0]
        reads_close = not isinstance(entry, dict) or "close" in entry["columns"]
        nulls = expected_nulls(missing if reads_close else np.zeros_like(missing), h.rows)
        if entry in ("MOM", "ROC"):  # they read the newest row and the row `rows` before only
            nulls = missing | np.concatenate([np.ones(h.rows, dtype=bool), missing[: -h.rows]])
        keep = ~nulls
        if h.cumulative or h.warmup:  # recursive: restarts after the bad row; compare up to it
            keep[5_000:] = False
        for name in out.columns:
            column = out[name]
            assert not column.is_nan().any(), name
            if entry == "STOCH":  # reads the close at the newest row of each fast-%K window only
                got = column.is_null().to_numpy()
                assert not (got & ~nulls).any() and got[missing].all(), name
                keep &= ~got
            else:
                np.testing.assert_array_equal(column.is_null().to_numpy(), nulls, err_msg=name)
            np.testing.assert_array_equal(
                column.to_numpy()[keep], reference[name].to_numpy()[keep], err_msg=name
            )
