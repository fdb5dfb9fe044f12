"""The nightly retrain's promotion gate: a candidate model set (``models/candidates/<run_id>/``) replaces
the live models only when it is not worse on today's holdout (:mod:`itb.promotion.rule`), and the
switch is atomic for every reader (:mod:`itb.promotion.switch`)."""
