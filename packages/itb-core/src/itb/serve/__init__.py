"""``itb serve``: the live half of the pipeline.

Each new candle becomes features, scores and signals computed by the same functions as the batch
stages (:mod:`itb.compute`, :class:`~itb.models.modelset.ModelSet`) on a bounded window sized from
the generators' declared history (:mod:`itb.serve.engine`), is logged per symbol and day
(:mod:`itb.serve.live_log`) and can be checked against the batch outputs (:mod:`itb.serve.audit`).
"""
