"""The reference project's published configs (copied under tests/data/itb with its MIT notice,
LICENSE-ITB) and a user function with its signature, for the `itb port` tests."""

from __future__ import annotations

from pathlib import Path

ITB_CONFIGS = Path(__file__).parent / "data" / "itb"
SAMPLE_1M = ITB_CONFIGS / "config-sample-1min.jsonc"
SAMPLE_1H = ITB_CONFIGS / "config-sample-1h.jsonc"
SAMPLE_MT5 = ITB_CONFIGS / "config-mt5-sample-1h.jsonc"


def write_reference_user_function(root: Path) -> None:
    """A function with the reference project's signature, named as its 1min sample names it
    (``common.my_feature_example:my_feature_example``): written here, not copied from it."""
    package = root / "common"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "my_feature_example.py").write_text(
        "def my_feature_example(df, config, global_config, model_store):\n"
        "    name = config.get('names') or config['columns'] + '_' + config['function']\n"
        "    if config['function'] == 'add':\n"
        "        df[name] = df[config['columns']] + config['parameter']\n"
        "    else:\n"
        "        df[name] = df[config['columns']] * config['parameter']\n"
        "    return df, [name]\n"
    )


def scaled_close(df, config, global_config, model_store):  # type: ignore[no-untyped-def]
    """A feature written the reference project's way: pandas in, (df, names) out, extra columns
    left in ``df`` (only the named ones are new features)."""
    name = config["names"]
    df["scratch"] = 0.0
    df[name] = df[config["columns"]] * config["parameter"]
    return df, [name]
