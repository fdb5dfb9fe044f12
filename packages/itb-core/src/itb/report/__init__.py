"""Human-readable reports of a backtest (``html``: the self-contained ``report.html``)."""
