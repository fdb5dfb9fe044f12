"""Walk-forward steps honour ``Algorithm.length`` as train does: each algorithm of a step trains on
the last ``length`` usable rows of the step's window (rows with a null feature do not count)."""

from __future__ import annotations

import numpy as np
import polars as pl
from itb.compute.training import training_rows, training_table
from itb.compute.walk_forward import fit_step_models, make_plan, predict_step
from itb.config import parse_config
from itb.models.scoring import score_rows
from itb.models.trained import fit_model

from tests.conftest import load_default_config

RNG = np.random.default_rng(21)


def test_a_step_trains_each_algorithm_on_the_last_length_usable_rows_of_its_window() -> None:
    data = load_default_config()
    data["train"]["algorithms"] = [
        {"name": "gb", "algo": "gb", "params": {"num_boost_round": 5}},
        {"name": "short", "algo": "gb", "params": {"num_boost_round": 5}, "length": 300},
    ]
    data["rolling"] = {"train_rows": 1000, "step_rows": 500}
    config = parse_config(data)
    n = 2600
    timestamps = np.arange(n, dtype=np.int64) * 60_000
    x = RNG.normal(size=n)
    x[2000:2010] = np.nan  # ten unusable rows inside the last 300 of step 1's window: they do not count
    features = pl.DataFrame({"timestamp": timestamps, "x": x}).with_columns(pl.col("x").fill_nan(None))
    labels = pl.DataFrame({"timestamp": timestamps, "high_10": x > 0.1, "low_10": RNG.random(n) > 0.5})
    table = training_table(config, features, labels)
    plan = make_plan(config, features["timestamp"])
    assert (plan.horizon, plan.start, plan.count) == (120, 1120, 3)
    train_from, train_to, predict_from, predict_to = plan.window(1)
    assert (train_from, train_to, predict_from, predict_to) == (500, 1500, 1620, 2120)

    fitted = [f for f in fit_step_models(table, plan, 1, config, threads=1) if f.label == "high_10"]
    assert [(f.rows, f.range_ms) for f in fitted] == [
        (1000, (timestamps[500], timestamps[1499])),
        (300, (timestamps[1200], timestamps[1499])),
    ]

    # a window ending after the ten null rows: its last 300 usable rows reach back ten rows further
    wide = make_plan(parse_config(data | {"rolling": {"train_rows": 1000, "step_rows": 500, "start": 2130}}),
                     features["timestamp"])  # fmt: skip
    w_from, w_to, _, _ = wide.window(0)
    assert (w_from, w_to) == (1010, 2010)
    short = [f for f in fit_step_models(table, wide, 0, config, threads=1) if f.model.name == "high_10_short"]
    assert [(f.rows, f.range_ms) for f in short] == [(300, (timestamps[1700], timestamps[1999]))]

    # the step's scores are those of a model fitted directly on that slice
    usable = training_rows(table.df[1200:1500], table.features, "high_10")
    direct = fit_model("high_10_short", config.train.algorithms[1], table.features,
                       usable.select("x").to_numpy(), usable["high_10"].to_numpy(), seed=config.train.seed,
                       threads=1)  # fmt: skip
    target = table.df[predict_from:predict_to].select("x").to_numpy()
    expected = score_rows(direct, target, ~np.isnan(target).any(axis=1), 1)
    got = predict_step(table, plan, 1, config, threads=1)["high_10_short"].to_numpy()
    assert np.array_equal(got, expected, equal_nan=True)
    whole = predict_step(table, plan, 1, config, threads=1)["high_10_gb"].to_numpy()
    assert not np.array_equal(whole, got, equal_nan=True)  # the length made a difference
