"""The history a config's generator sets need: the largest over their generators' declarations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from itb.generators.history import History
from itb.generators.registry import Kind, get_generator


def lookback_of_sets(sets: Iterable[Any], kind: Kind) -> History:
    """The history a list of generator sets (``feature_sets``, ``label_sets``, ``signal_sets``:
    objects with ``generator`` and ``config``) needs. A generator that does not declare its
    history (a user function) counts as cumulative: only the full history is known to be right."""
    histories: list[History] = []
    for gset in sets:
        generator = get_generator(kind, gset.generator)
        if generator.lookback is None:
            histories.append(History(cumulative=True))
        else:
            histories.append(generator.lookback(generator.validate(gset.config)))
    return History.union(histories)
