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


def print_secret(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """Writes the secret ``token`` every way a careless function might, then computes a feature.

    Python's stdout, stderr at the file-descriptor level (what C code does), a foreign logger, and
    a line split across two writes; the stage log must show none of them unmasked.
    """
    import logging
    import os
    import sys

    from itb import secret_refs

    token = secret_refs.get("token")
    print(f"debug: token={token}")
    sys.stdout.flush()
    os.write(2, f"native: {token}\n".encode())
    logging.getLogger("some.http.lib").warning("Authorization: Bearer %s", token)
    half = len(token) // 2
    sys.stderr.write(f"split: {token[:half]}")
    sys.stderr.flush()
    sys.stderr.write(f"{token[half:]} end\n")
    return df.select((pl.col("close") - pl.col("open")).alias("printed_body"))


def use_secrets(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """Resolves (and carelessly prints) every secret named in ``config["names"]``."""
    from itb import secret_refs

    for name in config["names"]:
        print(f"{name}={secret_refs.get(name)}")
    return df.select((pl.col("high") - pl.col("low")).alias("used_secrets"))


def exit_with_secret(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """Ends the process the careless way, with the secret ``token`` in the message."""
    import sys

    from itb import secret_refs

    sys.exit(f"cannot log in with {secret_refs.get('token')}")


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
