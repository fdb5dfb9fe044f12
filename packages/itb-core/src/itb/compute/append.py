"""Appending rows to a stored table instead of recomputing it: the pure half of incremental runs.

When an input table grows by rows after its stored end, a stage whose value at row ``i`` reads only
rows ``i - back .. i + ahead`` of its input (``back`` from the generators' declared
:class:`~itb.generators.history.History`, ``ahead`` the labels' horizon) keeps its stored rows
``0 .. keep`` (``keep = old_rows - ahead``: later stored rows were computed without their full
future) and recomputes the rest from input row ``start = keep - verify - back``. The ``verify``
rows before ``keep`` are computed again and must equal the stored ones bit for bit
(:func:`overlap_equal`); otherwise a declared history is too short and the stage recomputes
everything. The spliced table (:func:`splice`) then equals what a full recompute gives.

Whether an input grew only at its end is told by its *append chain*: the ``(rows, fingerprint)``
pairs its stored file went through by appends alone since its last full recompute. A stage that
read ``(rows, fingerprint)`` last time may append when that pair is still on the chain.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

#: Rows before the reused end that an append recomputes and compares with the stored ones.
VERIFY_ROWS = 64
#: Chain entries kept: appends further back than this many runs count as a change.
CHAIN_LENGTH = 64

ChainEntry = tuple[int, str]


class AppendRecord(BaseModel):
    """How a stage run made its table, for the manifest: appended or fully recomputed, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["append", "full"]
    #: Output rows computed by this run (an append: the new rows plus the recomputed tail).
    computed_rows: int
    #: Output rows taken over from the stored table unchanged.
    reused_rows: int
    #: Why the stage appended, or why it could not.
    reason: str


@dataclass(frozen=True)
class TailPlan:
    """Which rows an append reuses, recomputes and checks (indices into the input/output rows)."""

    #: Stored rows ``0 .. keep`` are reused as they are.
    keep: int
    #: First input row the recompute reads.
    start: int
    #: Recomputed rows ``verify_from .. keep`` must equal the stored ones.
    verify_from: int


def tail_plan(old_rows: int, back: int, ahead: int = 0, verify: int = VERIFY_ROWS) -> TailPlan:
    """The plan for a table of ``old_rows`` whose rows read ``back`` rows before and ``ahead`` after."""
    keep = max(0, old_rows - ahead)
    verify_from = max(0, keep - verify)
    return TailPlan(keep=keep, start=max(0, verify_from - back), verify_from=verify_from)


def overlap_equal(stored: pl.DataFrame, tail: pl.DataFrame, plan: TailPlan, stored_from: int = 0) -> bool:
    """Whether the recomputed rows ``verify_from .. keep`` (``tail`` starts at row ``plan.start``,
    ``stored`` at row ``stored_from``) equal the stored ones exactly, nulls and column order included."""
    length = plan.keep - plan.verify_from
    if stored.columns != tail.columns or stored_from + stored.height < plan.keep:
        return False
    old = stored.slice(plan.verify_from - stored_from, length)
    new = tail.slice(plan.verify_from - plan.start, length)
    return old.schema == new.schema and old.equals(new, null_equal=True)


def splice(stored: pl.DataFrame, tail: pl.DataFrame, plan: TailPlan) -> pl.DataFrame:
    """Stored rows ``0 .. keep`` followed by the recomputed rows from ``keep`` on."""
    return pl.concat([stored.head(plan.keep), tail.slice(plan.keep - plan.start)], how="vertical")


def frame_digest(df: pl.DataFrame) -> str:
    """SHA-256 of a frame's Arrow IPC bytes (values, nulls, names and types): equal frames, equal
    digest (one chunk first, since each chunk becomes its own record batch)."""
    buffer = io.BytesIO()
    df.rechunk().write_ipc(buffer, compression="uncompressed")
    return hashlib.sha256(buffer.getbuffer()).hexdigest()


def extend_chain(chain: list[ChainEntry], entry: ChainEntry, appended: bool) -> list[ChainEntry]:
    """The output's chain after this run: extended by an append, restarted by a full recompute."""
    return [*chain, entry][-CHAIN_LENGTH:] if appended else [entry]


def on_chain(chain: list[ChainEntry], entry: ChainEntry) -> bool:
    """Whether ``entry`` (rows, fingerprint read earlier) is a state the table grew from by appends."""
    return entry in chain
