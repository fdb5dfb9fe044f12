"""The reference project's published configs (copied under tests/data/itb with its MIT notice,
LICENSE-ITB), its own code (tests/research/itb_code) and a user function with its signature, for
the `itb port` tests."""

from __future__ import annotations

from pathlib import Path

ITB_CONFIGS = Path(__file__).parent / "data" / "itb"
SAMPLE_1M = ITB_CONFIGS / "config-sample-1min.jsonc"
SAMPLE_1H = ITB_CONFIGS / "config-sample-1h.jsonc"
SAMPLE_MT5 = ITB_CONFIGS / "config-mt5-sample-1h.jsonc"
#: The reference project's own code (test-only copy, MIT): its 1min sample names
#: ``common.my_feature_example:my_feature_example``, importable with this folder on the path.
ITB_CODE = Path(__file__).parent / "research" / "itb_code"


def scaled_close(df, config, global_config, model_store):  # type: ignore[no-untyped-def]
    """A feature written the reference project's way: pandas in, (df, names) out, extra columns
    left in ``df`` (only the named ones are new features)."""
    name = config["names"]
    df["scratch"] = 0.0
    df[name] = df[config["columns"]] * config["parameter"]
    return df, [name]
