"""An exact, vectorised predictor for LightGBM boosters made of stumps (trees with at most one split).

Why: LightGBM's ``Booster.predict`` walks every tree for every row, about 1.5 µs per row for 150
stumps on one core here, i.e. seconds for a year of minutes and two models. A booster whose trees
all have at most one split is an additive model, ``raw(x) = c + sum_f g_f(x_f)``, each ``g_f`` a step
function of one feature. :func:`compile_additive` turns it, once at load time, into per feature the
sorted unique thresholds and a table of ``g_f`` on each interval between them; :meth:`Additive.predict`
then costs one ``np.searchsorted`` per feature over all rows (a few ns per value).

Exactness: the decision of every split follows LightGBM's ``Tree::NumericalDecision`` (``tree.h``):

- the predictor first sets values with ``|x| <= kZeroThreshold`` (``1e-35f``) to zero (dense rows
  are converted to sparse pairs that skip such values, ``c_api.cpp``);
- NaN becomes 0.0 unless the node's ``missing_type`` is ``NaN``;
- with ``missing_type`` ``Zero`` a zero value, or with ``NaN`` a NaN, goes the ``default_left`` way;
- any other value goes left when ``x <= threshold``.

Leaf values already hold the shrinkage and (first tree) the initial score, so the sum of leaf values
is LightGBM's raw score; only the order of the additions differs (results agree within ~1e-15).
The objective's output transform is applied as LightGBM does (``binary``: ``1 / (1 + exp(-sigmoid *
raw))``; ``cross_entropy``: ``1 / (1 + exp(-raw))``; the regression objectives listed in
``IDENTITY_OBJECTIVES``: none). Anything else (deeper trees, categorical splits, linear trees,
multiclass, averaged output, other objectives) is not compiled: :func:`compile_additive` returns
None and the caller keeps using ``Booster.predict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]

#: LightGBM's ``kZeroThreshold`` (``1e-35f``, a float literal) as the double the C++ code compares with.
ZERO_THRESHOLD = float(np.float32(1e-35))
#: Objectives whose prediction is the raw score. ``regression`` with ``reg_sqrt`` is not among them
#: (its objective string carries ``sqrt``, which the parser below rejects).
IDENTITY_OBJECTIVES = frozenset({"regression", "regression_l1", "huber", "fair", "quantile", "mape"})


@dataclass(frozen=True)
class StepFunction:
    """``g_f`` of one feature: ``values[searchsorted(thresholds, x, 'left')]`` for ordinary values,
    ``at_zero`` for 0.0 and ``at_nan`` for NaN (computed per node, as each node may treat them its way)."""

    feature: int
    thresholds: Vector  # sorted, unique
    values: Vector  # len(thresholds) + 1
    at_zero: float
    at_nan: float
    zero_is_special: bool  # some node has missing_type Zero: 0.0 may not follow the thresholds


@dataclass(frozen=True)
class Additive:
    """A compiled stump ensemble: ``constant + sum of steps``, then the objective's transform."""

    num_features: int
    constant: float
    steps: tuple[StepFunction, ...]
    transform: str  # "sigmoid" or "identity"
    sigmoid: float = 1.0

    def raw(self, x: Matrix) -> Vector:
        """Raw scores (LightGBM's ``raw_score=True``) of the rows of ``x``."""
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"expected a matrix of {self.num_features} feature columns, got shape {x.shape}")
        out = np.full(x.shape[0], self.constant, dtype=np.float64)
        for step in self.steps:
            column = np.asarray(x[:, step.feature], dtype=np.float64)
            tiny = np.abs(column) <= ZERO_THRESHOLD  # False for NaN
            if tiny.any():
                column = np.where(tiny, 0.0, column)
            contribution = step.values[np.searchsorted(step.thresholds, column, side="left")]
            missing = np.isnan(column)
            if missing.any():
                contribution[missing] = step.at_nan
            if step.zero_is_special:
                contribution[column == 0.0] = step.at_zero
            out += contribution
        return out

    def predict(self, x: Matrix) -> Vector:
        """What ``Booster.predict(x)`` returns: probabilities of a classifier, values of a regressor."""
        raw = self.raw(x)
        if self.transform == "sigmoid":
            return 1.0 / (1.0 + np.exp(-self.sigmoid * raw))
        return raw


@dataclass(frozen=True)
class _Stump:
    threshold: float
    left: float
    right: float
    missing_type: str  # "None", "Zero" or "NaN"
    default_left: bool

    def decide(self, value: float) -> float:
        """LightGBM's NumericalDecision for one value, used for the two special inputs 0.0 and NaN."""
        if np.isnan(value) and self.missing_type != "NaN":
            value = 0.0
        if (self.missing_type == "Zero" and abs(value) <= ZERO_THRESHOLD) or (
            self.missing_type == "NaN" and np.isnan(value)
        ):
            return self.left if self.default_left else self.right
        return self.left if value <= self.threshold else self.right


def compile_additive(booster: Any) -> Additive | None:
    """Compile a ``lightgbm.Booster`` of stumps into an :class:`Additive`, or None if it is not one.

    Reads ``booster.model_to_string()`` with its default iteration range, the one ``predict`` uses.
    """
    return compile_model_text(booster.model_to_string())


#: ``decision_type`` bits of LightGBM's model text (``tree.h``): categorical, default left, missing type.
_CATEGORICAL_MASK, _DEFAULT_LEFT_MASK = 1, 2
_MISSING_TYPES = {0: "None", 1: "Zero", 2: "NaN"}


def compile_model_text(text: str) -> Additive | None:
    """:func:`compile_additive` on LightGBM's text model format.

    The text, not ``dump_model()``'s JSON: the JSON writes an infinite threshold (a NaN-versus-rest
    split has ``threshold=inf``) as 1e300, which would send values above 1e300 the wrong way. Numbers
    in the text have 17 significant digits, so parsing them gives back LightGBM's doubles exactly.
    """
    header, _, rest = text.partition("\nTree=")
    fields = _fields(header)
    if fields.get("num_class", "1") != "1" or fields.get("num_tree_per_iteration", "1") != "1":
        return None
    if "average_output" in header.splitlines() or "max_feature_idx" not in fields:
        return None
    transform = _transform(fields.get("objective", ""))
    if transform is None:
        return None
    kind, sigmoid = transform
    constant = 0.0
    stumps: dict[int, list[_Stump]] = {}
    for block in ("Tree=" + rest).split("end of trees", 1)[0].split("\nTree=") if rest else []:
        tree = _fields(block)
        if tree.get("is_linear", "0") != "0" or tree.get("num_cat", "0") != "0":
            return None
        leaves = int(tree["num_leaves"])
        values = [float(v) for v in tree["leaf_value"].split()]
        if leaves == 1:  # no split: a constant
            constant += values[0]
            continue
        if leaves != 2:
            return None
        decision = int(tree["decision_type"])
        missing_type = _MISSING_TYPES.get((decision >> 2) & 3)
        threshold = float(tree["threshold"])
        if decision & _CATEGORICAL_MASK or missing_type is None or np.isnan(threshold):
            return None
        # a stump's children are leaves ~0 (left) and ~1 (right)
        if (tree["left_child"], tree["right_child"]) != ("-1", "-2"):
            return None
        stump = _Stump(threshold, values[0], values[1], missing_type, bool(decision & _DEFAULT_LEFT_MASK))
        stumps.setdefault(int(tree["split_feature"]), []).append(stump)
    num_features = int(fields["max_feature_idx"]) + 1
    steps = tuple(_step(feature, stumps[feature]) for feature in sorted(stumps))
    return Additive(num_features, constant, steps, kind, sigmoid)


def _fields(block: str) -> dict[str, str]:
    """``key=value`` lines of a section of the model text."""
    return dict(line.split("=", 1) for line in block.splitlines() if "=" in line)


def _step(feature: int, stumps: list[_Stump]) -> StepFunction:
    thresholds = np.unique(np.array([s.threshold for s in stumps], dtype=np.float64))
    # a value in interval i (thresholds[i-1] < x <= thresholds[i]) goes left at every stump whose
    # threshold is >= thresholds[i]: values[i] = sum of right values + sum over those of (left - right)
    delta = np.zeros(thresholds.size + 1)
    np.add.at(
        delta,
        np.searchsorted(thresholds, [s.threshold for s in stumps]),
        [s.left - s.right for s in stumps],
    )
    values = np.cumsum(delta[::-1])[::-1] + sum(s.right for s in stumps)
    return StepFunction(
        feature=feature,
        thresholds=thresholds,
        values=values,
        at_zero=float(sum(s.decide(0.0) for s in stumps)),
        at_nan=float(sum(s.decide(float("nan")) for s in stumps)),
        zero_is_special=any(s.missing_type == "Zero" for s in stumps),
    )


def _transform(objective: str) -> tuple[str, float] | None:
    """``("sigmoid", s)`` or ``("identity", 1)`` for LightGBM's objective string, None if unsupported."""
    name, *options = objective.split()
    settings = dict(option.split(":", 1) for option in options if ":" in option)
    flags = {option for option in options if ":" not in option}
    if name == "binary" and not flags:
        return "sigmoid", float(settings.get("sigmoid", 1.0))
    if name in ("cross_entropy", "xentropy") and not flags and not settings:
        return "sigmoid", 1.0
    if name in IDENTITY_OBJECTIVES and not flags:  # "regression sqrt" transforms its output
        return "identity", 1.0
    return None
