"""The ``svc`` algorithm: a scikit-learn support vector classifier with Platt probabilities, stored
as data (support vectors, coefficients, kernel and Platt parameters) instead of a pickle.

Scoring needs numpy only. For a binary ``SVC(probability=True)`` scikit-learn's ``predict_proba``
is ``1 - clip(1 / (1 + exp(-f * A + B)), 1e-7, 1 - 1e-7)`` with ``f`` the decision function
``K(x, SV) @ dual_coef + intercept`` and ``A``, ``B`` its ``probA_``, ``probB_`` (libsvm keeps the
decision's sign flipped and gives the first class's probability), passed through libsvm's pairwise
coupling, which stops within a tolerance (:func:`pairwise_coupling`); a test compares the result with
scikit-learn's ``predict_proba`` (within 1e-12).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]

#: libsvm's bounds on a pairwise probability.
MIN_PROB = 1e-7
#: Rows scored at once: bounds the kernel matrix (rows x support vectors) in memory.
CHUNK_ROWS = 4096
KERNELS = ("rbf", "linear", "poly", "sigmoid")


@dataclass(frozen=True)
class SupportVectors:
    """A fitted binary SVC: what scoring it needs."""

    vectors: Matrix  # support vectors x features
    coef: Matrix  # one dual coefficient per support vector (scikit-learn's sign)
    intercept: float
    kernel: str
    gamma: float
    coef0: float
    degree: int
    prob_a: float
    prob_b: float

    @classmethod
    def from_sklearn(cls, model: Any) -> SupportVectors:
        if model.kernel not in KERNELS:
            raise ValueError(f"svc kernel {model.kernel!r} cannot be stored (use one of {KERNELS})")
        return cls(
            np.asarray(model.support_vectors_, dtype=np.float64),
            np.asarray(model.dual_coef_[0], dtype=np.float64),
            float(model.intercept_[0]),
            str(model.kernel),
            float(model._gamma),
            float(model.coef0),
            int(model.degree),
            float(model.probA_[0]),
            float(model.probB_[0]),
        )

    def kernel_matrix(self, x: Matrix) -> Matrix:
        dot = x @ self.vectors.T
        if self.kernel == "linear":
            return dot
        if self.kernel == "poly":
            return (self.gamma * dot + self.coef0) ** self.degree  # type: ignore[no-any-return]
        if self.kernel == "sigmoid":
            return np.tanh(self.gamma * dot + self.coef0)
        squared = (
            (x * x).sum(axis=1)[:, None] - 2.0 * dot + (self.vectors * self.vectors).sum(axis=1)[None, :]
        )
        return np.exp(-self.gamma * np.maximum(squared, 0.0))  # type: ignore[no-any-return]

    def decision(self, x: Matrix) -> Matrix:
        """scikit-learn's ``decision_function``: positive for the positive class."""
        out = np.empty(x.shape[0])
        for a in range(0, x.shape[0], CHUNK_ROWS):
            out[a : a + CHUNK_ROWS] = self.kernel_matrix(x[a : a + CHUNK_ROWS]) @ self.coef + self.intercept
        return out

    def probabilities(self, x: Matrix) -> Matrix:
        """The positive class's probability, as ``predict_proba(x)[:, 1]``: Platt's sigmoid of the
        decision, then libsvm's pairwise coupling (which stops within its tolerance)."""
        f_apb = -self.decision(x) * self.prob_a + self.prob_b
        first = 1.0 / (1.0 + np.exp(np.minimum(f_apb, 700.0)))  # Platt: P(first class)
        return 1.0 - pairwise_coupling(np.clip(first, MIN_PROB, 1.0 - MIN_PROB))

    def as_dict(self) -> dict[str, Any]:
        return {
            "vectors": self.vectors.tolist(), "coef": self.coef.tolist(), "intercept": self.intercept,
            "kernel": self.kernel, "gamma": self.gamma, "coef0": self.coef0, "degree": self.degree,
            "prob_a": self.prob_a, "prob_b": self.prob_b,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SupportVectors:
        vectors = np.asarray(data["vectors"], dtype=np.float64)
        return cls(
            vectors.reshape(len(data["vectors"]), -1), np.asarray(data["coef"], dtype=np.float64),
            float(data["intercept"]), str(data["kernel"]), float(data["gamma"]), float(data["coef0"]),
            int(data["degree"]), float(data["prob_a"]), float(data["prob_b"]),
        )  # fmt: skip


def pairwise_coupling(r01: Matrix, max_iter: int = 100) -> Matrix:
    """libsvm's ``multiclass_probability`` for two classes, row-wise: the first class's probability
    from the pairwise one ``r01`` (Wu, Lin and Weng 2004, method 2). Exactly ``r01`` at convergence,
    but libsvm stops once the error is below ``0.005 / k`` and so does this, for the same numbers."""
    r10 = 1.0 - r01
    q00, q11, q01 = r10 * r10, r01 * r01, -r10 * r01
    p0, p1 = np.full(r01.shape, 0.5), np.full(r01.shape, 0.5)
    active = np.ones(r01.shape, dtype=bool)
    for _ in range(max_iter):
        qp0 = q00 * p0 + q01 * p1
        qp1 = q01 * p0 + q11 * p1
        pqp = p0 * qp0 + p1 * qp1
        active &= np.maximum(np.abs(qp0 - pqp), np.abs(qp1 - pqp)) >= 0.005 / 2
        if not active.any():
            break
        # t = 0
        diff = np.where(active, (-qp0 + pqp) / q00, 0.0)
        p0 = p0 + diff
        pqp = (pqp + diff * (diff * q00 + 2 * qp0)) / (1 + diff) / (1 + diff)
        qp0, qp1 = (qp0 + diff * q00) / (1 + diff), (qp1 + diff * q01) / (1 + diff)
        p0, p1 = p0 / (1 + diff), p1 / (1 + diff)
        # t = 1
        diff = np.where(active, (-qp1 + pqp) / q11, 0.0)
        p1 = p1 + diff
        p0, p1 = p0 / (1 + diff), p1 / (1 + diff)
    return p0


def fit_svc(
    x: Matrix, y: NDArray[np.bool_], params: dict[str, Any], seed: int
) -> tuple[SupportVectors, dict[str, Any]]:
    """Fit ``SVC(probability=True, **params)``; returns the stored form and the parameters used."""
    try:
        from sklearn.svm import SVC
    except ImportError:
        from itb.errors import ConfigError

        raise ConfigError("algorithm 'svc' needs scikit-learn: pip install 'itb-core[lc]'") from None
    used = {**params, "probability": True, "random_state": seed}
    with warnings.catch_warnings():  # scikit-learn 1.9 deprecates probability=True (removed in 1.11)
        warnings.simplefilter("ignore", FutureWarning)
        model = SVC(**used)
        model.fit(x, y)
        return SupportVectors.from_sklearn(model), used
