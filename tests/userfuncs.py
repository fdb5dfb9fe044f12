"""User feature functions used by the tests (referenced as `tests.userfuncs:NAME` in configs)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl


def range_ratio(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """(high - low) / close, a polars user function."""
    return df.select(
        ((pl.col("high") - pl.col("low")) / pl.col("close")).alias(config.get("name", "range_ratio"))
    )


def body_pandas(df: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """close - open, written with pandas: itb hands pandas to functions annotated for it."""
    return pd.DataFrame({"body": df["close"] - df["open"]})


def boom(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    raise ValueError("boom: this user function always fails")


def leak_secret(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """Fails with the value of the config's secret ``token`` in its message (redaction must mask it)."""
    from itb import secret_refs

    raise ValueError(f"upstream rejected token {secret_refs.get('token')}")


def sleepy(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """Says it started (in the stage log and in the file ``config["marker"]``), then sleeps: a stage
    that is surely running when a test signals the runner."""
    import sys
    import time
    from pathlib import Path

    print("sleepy: started, [bold]markup[/] stays literal", file=sys.stderr, flush=True)
    Path(config["marker"]).write_text("started")
    time.sleep(float(config.get("seconds", 120)))
    return df.select(pl.col("close").alias("sleepy"))
