"""Live trading on Binance spot (the ``trader_binance`` output).

Pure logic (exchange filters, client order ids, the order state machine, caps, the per-candle
decision, reconciliation) lives in modules that do no I/O; :mod:`itb.trade.venue` talks to the
exchange (or simulates it), :mod:`itb.trade.journal` persists the state in the data root, and
:mod:`itb.trade.trader` ties them together per candle.
"""
