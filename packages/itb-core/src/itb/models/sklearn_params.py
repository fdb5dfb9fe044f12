"""The constructor parameters of the scikit-learn estimators itb trains (scikit-learn 1.9.1).

``itb validate`` and ``itb run`` check an ``lc`` or ``svc`` algorithm's ``params`` against these
without importing scikit-learn: its import (scipy included) costs about 1.6 s, which was most of an
incremental ``itb run`` on 3 years of data. A name not listed here is looked up in the installed
scikit-learn before it is called an error, so a newer release's parameters are still accepted;
``tests/research/test_models_algorithms.py`` compares these sets with the installed version's.
"""

from __future__ import annotations

LOGISTIC_REGRESSION_PARAMETERS: frozenset[str] = frozenset(
    ("C", "class_weight", "dual", "fit_intercept", "intercept_scaling", "l1_ratio", "max_iter", "n_jobs",
     "penalty", "random_state", "solver", "tol", "verbose", "warm_start")
)  # fmt: skip

SVC_PARAMETERS: frozenset[str] = frozenset(
    ("C", "break_ties", "cache_size", "class_weight", "coef0", "decision_function_shape", "degree", "gamma",
     "kernel", "max_iter", "probability", "random_state", "shrinking", "tol", "verbose")
)  # fmt: skip
