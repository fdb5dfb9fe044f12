"""``itb port`` maps the reference project's walk-forward window: ``train_length`` is the window,
``params.length`` stays per algorithm (itb's walk-forward steps apply ``Algorithm.length`` as the
reference did), and an expanding window is reported where itb cannot reproduce it."""

from __future__ import annotations

import copy
from typing import Any

from itb.config import jsonc, parse_config
from itb.port import port_config

from tests.itb_reference import SAMPLE_1H


def two_algorithms(train_length: int, lengths: tuple[int, int]) -> dict[str, Any]:
    data: dict[str, Any] = jsonc.loads(SAMPLE_1H.read_text())
    data["train_length"] = train_length
    first = data["algorithms"][0]
    second = copy.deepcopy(first) | {"name": "svc_short"}
    first["params"]["length"], second["params"]["length"] = lengths
    data["algorithms"] = [first, second]
    return data


def test_train_length_is_the_window_and_each_algorithm_keeps_its_length() -> None:
    port = port_config(two_algorithms(5000, (3000, 0)))
    config = parse_config(port.data)
    assert config.rolling is not None and config.rolling.train_rows == 5000
    assert [a.length for a in config.train.algorithms] == [3000, None]
    assert ("train_length", "rolling.train_rows") in [(m.source, m.target) for m in port.report.mapped]
    assert not [c for c in port.report.changed_meaning if c.source.startswith("algorithms[")]


def test_an_expanding_window_capped_by_every_algorithm_is_the_longest_length() -> None:
    port = port_config(two_algorithms(0, (26280, 800)))
    config = parse_config(port.data)
    assert config.rolling is not None and config.rolling.train_rows == 26280
    assert [a.length for a in config.train.algorithms] == [26280, 800]
    assert not [c for c in port.report.changed_meaning if c.source.startswith("algorithms[")]


def test_an_algorithm_without_length_in_an_expanding_window_is_reported() -> None:
    port = port_config(two_algorithms(0, (800, 0)))
    config = parse_config(port.data)
    assert config.rolling is not None and config.rolling.train_rows == 800
    changed = [c for c in port.report.changed_meaning if c.source.startswith("algorithms[")]
    assert [c.source for c in changed] == ["algorithms[1]"] and "every row" in changed[0].what
