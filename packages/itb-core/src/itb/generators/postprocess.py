"""Post-processing shared by the feature generators (``talib``, ``itbstats``): the ``parameters`` key.

Outputs of one function on one column over several windows form a list (in ``windows`` order).
``rel_base`` turns each into a value relative to another element of that list, as the reference
project does: ``next`` (the following window), ``last``, ``prev`` (the preceding window) or
``first``; the base element itself stays as it is. ``rel_func`` says how: ``rel`` (x / base),
``diff`` (x - base) or ``rel_diff`` ((x - base) / base). ``percentage`` multiplies every output by
100 and ``log`` takes the natural logarithm last (non-positive values become null).

One deliberate difference from the reference: its ``first`` used the last element as the base (a
bug); here ``first`` is the first element.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from itb.config.models import Model

Array = NDArray[np.float64]


class PostProcess(Model):
    rel_base: Literal["next", "last", "prev", "first"] | None = None
    rel_func: Literal["rel", "diff", "rel_diff"] = "rel"
    percentage: bool = False
    log: bool = False


def apply(values: list[Array], params: PostProcess | None) -> list[Array]:
    """Apply ``params`` to one list of outputs (one function, one column, windows in order)."""
    if params is None:
        return values
    size = len(values)
    out: list[Array] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, value in enumerate(values):
            base_index: int | None = None
            if params.rel_base == "next" and i < size - 1:
                base_index = i + 1
            elif params.rel_base == "last" and i < size - 1:
                base_index = size - 1
            elif params.rel_base == "prev" and i > 0:
                base_index = i - 1
            elif params.rel_base == "first" and i > 0:
                base_index = 0
            result = value
            if base_index is not None:
                base = values[base_index]
                if params.rel_func == "rel":
                    result = value / base
                elif params.rel_func == "diff":
                    result = value - base
                else:
                    result = (value - base) / base
            if params.percentage:
                result = result * 100.0
            if params.log:
                result = np.log(np.where(result > 0, result, np.nan))
            out.append(np.where(np.isfinite(result), result, np.nan))
    return out
