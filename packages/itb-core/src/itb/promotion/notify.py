"""Telling the chat what the gate decided: through :func:`itb.serve.telegram.message_sink`, which is
the persisted Telegram outbox when the config names both Telegram secrets (a message the network
loses now is sent by the next ``itb serve``) and the console (the stage log) otherwise.
"""

from __future__ import annotations

from itb.config.models import PipelineConfig
from itb.promotion.records import PromotionDecision
from itb.storage.store import Storage


def notify_decision(config: PipelineConfig, storage: Storage, decision: PromotionDecision) -> None:
    """Post the decision's summary; waits for Telegram up to its sink's flush timeout."""
    # here, not at the top: every stage process imports the stage registry, and python-telegram-bot
    # with its HTTP stack costs a quarter of a second that only this message needs
    from itb.serve.telegram import message_sink

    sink = message_sink(config, storage)
    try:
        sink.post(decision.summary(), key=f"promotion:{decision.candidate_run}")
    finally:
        sink.close()
