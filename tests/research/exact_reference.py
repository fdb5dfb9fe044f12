"""Windowed indicators in exact rational arithmetic (``fractions.Fraction``): the oracle for one row.

Each function takes the float inputs (the values the library sees, converted exactly), the row t and
the window, and returns the exact value rounded once to float. Definitions are TA-Lib's (population
variance, positions 0 = oldest, CCI's 0.015, returns for BETA); the zero-denominator rules are the
ones ``itb.generators.indicators`` documents.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

Inputs = dict[str, np.ndarray]


def _window(values: np.ndarray, t: int, window: int) -> list[Fraction]:
    return [Fraction(float(v)) for v in values[t - window + 1 : t + 1]]


def _mean(xs: list[Fraction]) -> Fraction:
    return sum(xs, Fraction(0)) / len(xs)


def _var(xs: list[Fraction]) -> Fraction:
    m = _mean(xs)
    return sum(((x - m) ** 2 for x in xs), Fraction(0)) / len(xs)


def _slope(ys: list[Fraction]) -> Fraction:
    n = len(ys)
    k_mean = Fraction(n - 1, 2)
    y_mean = _mean(ys)
    top = sum(((k - k_mean) * (y - y_mean) for k, y in enumerate(ys)), Fraction(0))
    return top / sum(((k - k_mean) ** 2 for k in range(n)), Fraction(0))


def _typical(inputs: Inputs, t: int, window: int) -> list[Fraction]:
    # The library rounds the typical price once, as TA-Lib does; the oracle starts from those floats.
    tp = (inputs["high"] + inputs["low"] + inputs["close"]) / 3.0
    return _window(tp, t, window)


def _returns(values: np.ndarray, t: int, window: int) -> list[Fraction]:
    xs = _window(values, t, window + 1)
    return [Fraction(0) if b == 0 else (a - b) / b for b, a in itertools.pairwise(xs)]


def exact(function: str, inputs: Inputs, t: int, window: int) -> float:
    """The exact value of ``function`` at row ``t`` (rounded once to float)."""
    close = inputs.get("close", np.empty(0))
    if function in ("SMA", "SUM", "VAR", "STDDEV", "WMA"):
        xs = _window(close, t, window)
        if function == "SMA":
            return float(_mean(xs))
        if function == "SUM":
            return float(sum(xs, Fraction(0)))
        if function == "VAR":
            return float(_var(xs))
        if function == "STDDEV":
            return math.sqrt(float(_var(xs)))  # sqrt of the exactly rounded variance: < 1 ulp off
        weights = range(1, window + 1)
        return float(sum((w * x for w, x in zip(weights, xs, strict=True)), Fraction(0)) / sum(weights))
    if function in ("LINEARREG_SLOPE", "LINEARREG", "LINEARREG_INTERCEPT", "TSF", "LINEARREG_ANGLE"):
        ys = _window(close, t, window)
        slope = _slope(ys)
        intercept = _mean(ys) - slope * Fraction(window - 1, 2)
        if function == "LINEARREG_SLOPE":
            return float(slope)
        if function == "LINEARREG_ANGLE":
            return math.degrees(math.atan(float(slope)))
        if function == "LINEARREG_INTERCEPT":
            return float(intercept)
        return float(intercept + slope * (window - 1 if function == "LINEARREG" else window))
    if function == "CCI":
        tp = _typical(inputs, t, window)
        m = _mean(tp)
        deviation = sum((abs(x - m) for x in tp), Fraction(0)) / window
        if deviation <= Fraction(1e-12) * abs(tp[-1]):
            return 0.0
        return float((tp[-1] - m) / (Fraction(0.015) * deviation))
    if function == "MFI":
        tp = _typical(inputs, t, window + 1)
        volume = _window(inputs["volume"], t, window)
        positive = negative = Fraction(0)
        for before, now, v in zip(tp[:-1], tp[1:], volume, strict=True):
            move = now - before
            if abs(move) <= Fraction(1e-12) * abs(now):
                continue
            # the library rounds tp * volume once, like TA-Lib: the oracle uses that float
            flow = Fraction(float(now) * float(v))
            if move > 0:
                positive += flow
            else:
                negative += flow
        total = positive + negative
        return 0.0 if total < 1 else float(100 * positive / total)
    if function in ("CORREL", "BETA"):
        if function == "CORREL":
            xs, ys = _window(inputs["real0"], t, window), _window(inputs["real1"], t, window)
        else:
            xs, ys = _returns(inputs["real0"], t, window), _returns(inputs["real1"], t, window)
        mx, my = _mean(xs), _mean(ys)
        sxx = sum(((x - mx) ** 2 for x in xs), Fraction(0))
        syy = sum(((y - my) ** 2 for y in ys), Fraction(0))
        sxy = sum(((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)), Fraction(0))
        if function == "CORREL":
            return 0.0 if sxx * syy < Fraction(1e-14) else float(sxy) / math.sqrt(float(sxx * syy))
        return 0.0 if abs(window * sxx) < Fraction(1e-14) else float(sxy / sxx)
    raise KeyError(function)
