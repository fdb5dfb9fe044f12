"""Backtests: the vectorised one over a whole series (``vectorised``), an incremental account for one
bar at a time (``account``), and the fill and fee rules both use (``fills``)."""
