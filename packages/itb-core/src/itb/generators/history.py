"""How much history a generator's output at a row needs, and the same for a list of sets.

A live system computes features on a recent tail of the data; the tail must be long enough that
the last rows equal what the full history gives. Each generator declares it (freqtrade's
``startup_candle_count``, per generator): ``rows`` before a row that its value reads (a window of
``w`` reads ``w - 1``), ``warmup`` further rows after which a recursive value (EMA family, Wilder
smoothing) is within 1e-12 relative of the full-history value, and ``cumulative`` for values that
depend on all history (OBV's level). A tail of ``rows + warmup + k`` rows reproduces the last ``k``
values of the full table (windowed values bit for bit, recursive ones to 1e-12 relative).
``lookback.lookback_of_sets`` adds it up over a config's generator sets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

#: Relative error at which a recursive value counts as warmed up.
TOLERANCE = 1e-12


@dataclass(frozen=True)
class History:
    """Rows of history a value needs; see the module docstring."""

    rows: int = 0
    warmup: int = 0
    cumulative: bool = False

    @property
    def total(self) -> int:
        """Rows before the first value that must equal the full-history value."""
        return self.rows + self.warmup

    @staticmethod
    def union(histories: Iterable[History]) -> History:
        """What a set of outputs needs: the largest of each part."""
        items = list(histories)
        return History(
            rows=max((h.rows for h in items), default=0),
            warmup=max((h.warmup for h in items), default=0),
            cumulative=any(h.cumulative for h in items),
        )


def decay_rows(alpha: float, order: int = 1) -> int:
    """Rows after which a seed's influence on ``y = (1 - alpha) y + alpha x`` is below 1e-12:
    ``ceil(ln(1e-12) / ln(1 - alpha))``; ``order`` stacked filters (DEMA 2, TEMA 3) need that many
    times as long (the error decays like ``n^(order-1) (1-alpha)^n``, so this is generous)."""
    if alpha >= 1.0:
        return 0
    return order * math.ceil(math.log(TOLERANCE) / math.log(1.0 - alpha))
