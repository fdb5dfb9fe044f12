"""Incremental runs of the table stages: may this run append to the stored table, and what it did.

A table stage (features, labels, merge) that is out of date only because its input grew at the end
appends: it computes the new rows plus what its windows and horizons need (see
:mod:`itb.compute.append`), checks the recomputed overlap against the stored rows, and writes the
spliced table (one atomic write). It falls back to a full recompute, and says why in the manifest's
``incremental`` record and a log line, when any of this does not hold:

- there is an earlier run to append to, which recorded its append state (``state/<stage>.json``
  ``append``), and its stored output is still the one it wrote (size);
- the *basis* is the same: stage version, code, config section and user-code fingerprints (everything
  in the stage key except the inputs, which grow);
- the input it read last time, ``(rows, fingerprint)``, is on the input's append chain: the input
  only grew at its end since (a full recompute upstream restarts the chain, so its dependents
  recompute too);
- its generators declare a bounded history: a cumulative one (OBV's level, topbot2) depends on every
  earlier row, and a recursive one (EMA family, ``warmup`` rows) matches the full history only to
  1e-12, not bit for bit; both recompute fully (persisting their filter state is not done);
- the recomputed overlap equals the stored rows exactly;
- the stage is not up to date: a run that reaches it anyway (``--force``) recomputes it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from itb.compute.append import (
    AppendRecord,
    ChainEntry,
    extend_chain,
    on_chain,
    overlap_equal,
    tail_plan,
)
from itb.config.models import PipelineConfig
from itb.generators.history import History
from itb.stages.base import Stage
from itb.stages.state import key_of, read_state, stage_inputs, stage_key
from itb.storage.parquet_append import (
    append_row_groups,
    footer_length,
    parquet_bytes,
    read_footer,
    read_footer_from_end,
    splice_row_groups,
    unused_bytes,
)
from itb.storage.store import Storage, WriteResult

#: The key of the append state inside ``state/<stage>.json``.
STATE_KEY = "append"


class AppendState(BaseModel):
    """What a stage run stores for the next run's append (``state/<stage>.json`` ``append``)."""

    model_config = ConfigDict(extra="forbid")

    basis: str
    #: Output rows of the stored table.
    rows: int
    #: ``(rows, fingerprint)`` of the input table this run read (None: external input, see ``extra``).
    input: ChainEntry | None = None
    #: Per output: the ``(rows, fingerprint)`` states it went through by appends alone.
    chains: dict[str, list[ChainEntry]]
    #: Stage-specific facts (merge: the source's row count and a digest of its last rows).
    extra: dict[str, Any] = {}


@dataclass(frozen=True)
class Stored:
    """An output as the earlier run recorded it (and :func:`check_append` found it still is)."""

    fingerprint: str
    size: int


@dataclass(frozen=True)
class Appendable:
    """The earlier run this one may append to."""

    previous: AppendState
    #: ``(rows, fingerprint)`` of the input now (None for external inputs).
    input: ChainEntry | None
    #: The earlier run's outputs, by name.
    stored: dict[str, Stored] = field(default_factory=dict)


@dataclass(frozen=True)
class Recompute:
    """Why this run computes everything."""

    reason: str


def basis_key(stage: Stage, config: PipelineConfig, *, external: bool = True) -> str:
    """The stage key without its inputs (``external=False``: without the external fingerprints too,
    for merge, whose external inputs are the growing sources)."""
    return key_of(stage, config, external=stage.external_fingerprints(config) if external else {})


def previous_state(storage: Storage, stage: str) -> AppendState | None:
    state = read_state(storage, stage) or {}
    raw = state.get(STATE_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        return AppendState.model_validate(raw)
    except ValueError:
        return None


def check_append(
    stage: Stage, config: PipelineConfig, storage: Storage, basis: str, input_name: str | None
) -> Appendable | Recompute:
    """Whether this run of ``stage`` may append to the stored output of the last one (see module doc)."""
    state = read_state(storage, stage.name)
    if state is None:
        return Recompute("no earlier run to append to")
    if state.get("key") == stage_key(stage, config, storage):
        return Recompute("forced while up to date: --force recomputes a table whose inputs did not change")
    previous = previous_state(storage, stage.name)
    if previous is None:
        return Recompute("the earlier run recorded no append state")
    if previous.basis != basis:
        return Recompute("config or code changed since the earlier run")
    stored: dict[str, Stored] = {}
    for name, info in state.get("outputs", {}).items():
        if storage.size(name) != info.get("size"):
            return Recompute(f"the stored {name} is not the one the earlier run wrote")
        stored[name] = Stored(str(info.get("fingerprint")), int(info["size"]))
    if input_name is None:
        return Appendable(previous, None, stored)
    current = stage_inputs(stage, storage).get(input_name) or {}
    entry: ChainEntry = (int(current.get("rows") or 0), str(current.get("fingerprint")))
    if previous.input is None:
        return Recompute(f"{input_name} has no append history")
    why = not_grown_by_appends(stage, storage, input_name, previous.input)
    if why is not None:
        return Recompute(why)
    return Appendable(previous, entry, stored)


def not_grown_by_appends(stage: Stage, storage: Storage, input_name: str, then: ChainEntry) -> str | None:
    """None when ``input_name`` (an output of one of ``stage``'s dependencies) only grew at its end
    since it was ``then`` (``(rows, fingerprint)``); else why not."""
    producer = next((dep for dep in stage.deps if _outputs_of(storage, dep, input_name)), None)
    upstream = previous_state(storage, producer) if producer is not None else None
    if upstream is None:
        return f"{input_name} has no append history"
    if not on_chain(upstream.chains.get(input_name, []), then):
        return f"{input_name} changed before its earlier end (recomputed, not appended to)"
    return None


def _outputs_of(storage: Storage, dep: str, name: str) -> bool:
    return name in ((read_state(storage, dep) or {}).get("outputs") or {})


def last_timestamp(storage: Storage, name: str) -> int | None:
    """The ``timestamp`` of a stored table's last row (a local file: only its last row group is
    read), or None for an empty table."""
    path = storage.scan_path(name)
    if path is not None:
        stamps = pl.scan_parquet(path).select(pl.col("timestamp").last()).collect()["timestamp"]
    else:
        stamps = storage.read_parquet(name, columns=["timestamp"])["timestamp"].tail(1)
    return None if stamps.is_empty() or stamps[0] is None else int(stamps[0])


def history_reason(history: History, what: str) -> str | None:
    """Why generators with this history cannot append bit for bit, or None when they can."""
    if history.cumulative:
        return f"{what} depend on all history (a cumulative or undeclared generator)"
    if history.warmup:
        return (
            f"{what} are recursive (warmup {history.warmup} rows): a tail matches the full history "
            "only to 1e-12, not bit for bit"
        )
    return None


def read_rows_from(storage: Storage, name: str, start: int) -> pl.DataFrame:
    """Rows ``start ..`` of a stored table (a local file is scanned, so earlier row groups are skipped)."""
    path = storage.scan_path(name)
    if path is not None:
        return pl.scan_parquet(path).slice(start).collect()
    return storage.read_parquet(name).slice(start)


#: A trailing row group smaller than this is encoded again together with the new rows when a table is
#: rewritten, so that daily appends do not leave a file of ever more tiny row groups.
MIN_GROUP_ROWS = 100_000
#: An in-place append leaves the bytes it replaces behind (the old footer, re-encoded row groups):
#: when they would pass this share of the file, the table is rewritten instead, which drops them.
MAX_UNUSED_SHARE = 0.10
#: ... and when the table would end in more row groups under :data:`MIN_GROUP_ROWS` than this (a
#: month of daily appends), it is rewritten, which joins them into one.
MAX_SMALL_GROUPS = 32


@dataclass
class TableOutcome:
    """A table a stage made: its stored rows ``0 .. keep`` stay, ``tail`` holds the rows from ``keep``
    on (a full recompute: ``keep`` is 0 and ``tail`` the whole table)."""

    tail: pl.DataFrame
    keep: int
    record: AppendRecord
    previous: AppendState | None = None
    input: ChainEntry | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The earlier run's outputs (an append grows them).
    stored: dict[str, Stored] = field(default_factory=dict)
    #: Rows at the end that the next append recomputes (labels' horizon): stored as a row group of
    #: their own, so that the next append replaces only them, not the row group they would end.
    unstable: int = 0

    @property
    def appended(self) -> bool:
        return self.record.mode == "append"

    @property
    def rows(self) -> int:
        return self.keep + self.tail.height

    def write(self, storage: Storage, name: str) -> WriteResult:
        """Write the table atomically: an append grows the stored file in place where it can
        (:func:`append_in_place`), else copies the kept row groups' bytes as they are."""
        if not self.appended:
            return storage.write_bytes(name, table_bytes(self.tail, self.unstable), rows=self.tail.height)
        stored = self.stored.get(name)
        if stored is not None and storage.appends_in_place:
            written = append_in_place(storage, name, self.keep, self.tail, stored, self.unstable)
            if written is not None:
                return written
        return write_spliced(storage, name, self.keep, self.tail, self.unstable)

    def state(self, basis: str, written: WriteResult) -> dict[str, Any]:
        """The stage state entry to store after ``written`` (the output's atomic write): the append
        state under :data:`STATE_KEY`, where :func:`previous_state` reads it."""
        entry: ChainEntry = (self.rows, written.fingerprint)
        chain = self.previous.chains.get(written.name, []) if self.previous is not None else []
        state = AppendState(
            basis=basis,
            rows=self.rows,
            input=self.input,
            chains={written.name: extend_chain(chain, entry, self.appended)},
            extra=self.extra,
        )
        return {STATE_KEY: state.model_dump(mode="json")}


def table_bytes(frame: pl.DataFrame, unstable: int = 0) -> bytes:
    """``frame`` as one Parquet file (:func:`parquet_bytes`), its last ``unstable`` rows a row group of
    their own (the first part's footer stays inside as a few unused kilobytes)."""
    if not 0 < unstable < frame.height:
        return parquet_bytes(frame)
    head = parquet_bytes(frame.head(frame.height - unstable))
    footer = read_footer(head)
    rest = append_row_groups(footer, len(head), len(footer.row_groups), parquet_bytes(frame.tail(unstable)))
    if rest is None:
        raise ValueError("the parts of one frame have different schemas")
    return head + rest


def whole_groups(sizes: list[int], keep: int) -> tuple[int, int]:
    """``(groups, rows)``: the leading row groups (of ``sizes`` rows each) that lie wholly within
    rows ``0 .. keep``, and the rows they hold."""
    kept, boundary = 0, 0
    while kept < len(sizes) and boundary + sizes[kept] <= keep:
        boundary += sizes[kept]
        kept += 1
    return kept, boundary


def append_in_place(
    storage: Storage, name: str, keep: int, tail: pl.DataFrame, stored: Stored, unstable: int = 0
) -> WriteResult | None:
    """Stored rows ``0 .. keep`` of ``name`` followed by ``tail``, by appending row groups and a new
    footer after the stored file's end (:meth:`itb.storage.store.Storage.append_bytes`): only the
    footer and the rows of the row group that holds ``keep`` are read, and only they and ``tail`` are
    written. None (the caller rewrites the table) when the unused bytes or small row groups this
    leaves would pass :data:`MAX_UNUSED_SHARE` or :data:`MAX_SMALL_GROUPS`, or the schemas differ."""
    storage.roll_back_append(name)  # we are its writer: a killed append of ours is undone first
    size = stored.size
    end = storage.read_range(name, max(0, size - 65536), size)
    if footer_length(end) + 8 > len(end):
        end = storage.read_range(name, size - 8 - footer_length(end), size)
    footer = read_footer_from_end(end, size)
    sizes = footer.group_rows()
    kept, boundary = whole_groups(sizes, keep)
    small = 0
    while small < kept and sizes[kept - 1 - small] < MIN_GROUP_ROWS:
        small += 1
    if small + 1 > MAX_SMALL_GROUPS:
        return None
    path = storage.scan_path(name)
    if path is None and keep > boundary:
        return None  # an object store: rows inside a stored row group are re-encoded by a rewrite
    redo = pl.scan_parquet(path).slice(boundary, keep - boundary).collect() if path else tail.head(0)
    part = pl.concat([redo, tail], how="vertical")
    data = append_row_groups(footer, size, kept, table_bytes(part, unstable))
    if data is None:
        return None
    grown = size + len(data)
    if unused_bytes(read_footer_from_end(data, grown), grown) > MAX_UNUSED_SHARE * grown:
        return None
    return storage.append_bytes(name, size, data, stored.fingerprint, rows=keep + tail.height)


def write_spliced(
    storage: Storage, name: str, keep: int, tail: pl.DataFrame, unstable: int = 0
) -> WriteResult:
    """Stored rows ``0 .. keep`` of ``name`` followed by ``tail``, written atomically. Whole row groups
    before ``keep`` are copied as bytes (:func:`itb.storage.parquet_append.splice_row_groups`); the rest
    of the kept rows are encoded again with ``tail``. A file that in-place appends left with unused
    bytes (over 1 %) is decoded and written whole instead, which drops them."""
    data = storage.read_bytes(name)
    footer = read_footer(data)
    rows = keep + tail.height
    if unused_bytes(footer, len(data)) > 0.01 * len(data):
        stored = pl.scan_parquet(io.BytesIO(data)).head(keep).collect()
        whole = pl.concat([stored, tail], how="vertical")
        return storage.write_bytes(name, table_bytes(whole, unstable), rows=rows)
    sizes = footer.group_rows()
    kept, boundary = whole_groups(sizes, keep)
    while kept and sizes[kept - 1] < MIN_GROUP_ROWS:
        kept -= 1
        boundary -= sizes[kept]
    redo = pl.scan_parquet(io.BytesIO(data)).slice(boundary, keep - boundary).collect()
    part = pl.concat([redo, tail], how="vertical")
    spliced = splice_row_groups(data, kept, table_bytes(part, unstable))
    if spliced is None:  # another writer's file: decode and write it whole
        stored = pl.scan_parquet(io.BytesIO(data)).head(boundary).collect()
        whole = pl.concat([stored, part], how="vertical")
        return storage.write_bytes(name, table_bytes(whole, unstable), rows=rows)
    return storage.write_spliced(name, data, spliced.cut, spliced.tail, rows=rows)


def log_record(log: logging.Logger, stage: str, record: AppendRecord) -> None:
    """The one log line that says how the table was made."""
    if record.mode == "append":
        log.info("%s: appended %d computed rows to %d reused ones (%s)",
                 stage, record.computed_rows, record.reused_rows, record.reason)  # fmt: skip
    else:
        log.info("%s: full recompute of %d rows: %s", stage, record.computed_rows, record.reason)


def generated_table(
    stage: Stage,
    config: PipelineConfig,
    storage: Storage,
    *,
    basis: str,
    input_name: str,
    output_name: str,
    compute: Callable[[pl.DataFrame], pl.DataFrame],
    history: History,
    what: str,
    ahead: int = 0,
    facts: dict[str, Any] | None = None,
) -> TableOutcome:
    """``compute`` (input rows -> output rows, row for row) over the input: appended to the stored
    output when :func:`check_append` and the generators' history allow, else over every row.

    ``facts`` (JSON values, stored with the append state) are what else the stored rows depend on
    (predict: the models' fingerprints): the table appends only when they are what the earlier run
    stored."""
    facts = facts or {}
    decision = check_append(stage, config, storage, basis, input_name)
    if isinstance(decision, Appendable):
        reason = history_reason(history, what)
        changed = [key for key, value in facts.items() if decision.previous.extra.get(key) != value]
        if reason is None and changed:
            reason = f"its {' and '.join(changed)} changed since the earlier run"
        if reason is not None:
            decision = Recompute(reason)
    if isinstance(decision, Appendable):
        plan = tail_plan(decision.previous.rows, history.rows, ahead)
        tail = compute(read_rows_from(storage, input_name, plan.start))
        stored = read_rows_from(storage, output_name, plan.verify_from)
        if overlap_equal(stored, tail, plan, stored_from=plan.verify_from):
            new = tail.slice(plan.keep - plan.start)
            grown = plan.keep + new.height - decision.previous.rows
            record = AppendRecord(
                mode="append",
                computed_rows=new.height,
                reused_rows=plan.keep,
                reason=f"{input_name} grew by {grown} rows after its stored end",
            )
            return TableOutcome(
                new, plan.keep, record, decision.previous, decision.input, facts,
                stored=decision.stored, unstable=ahead,
            )  # fmt: skip
        decision = Recompute("the recomputed overlap differs from the stored rows (a generator reads "
                             "more history than it declares)")  # fmt: skip
    current = stage_inputs(stage, storage).get(input_name) or {}
    table = compute(storage.read_parquet(input_name))
    record = AppendRecord(mode="full", computed_rows=table.height, reused_rows=0, reason=decision.reason)
    entry: ChainEntry = (int(current.get("rows") or table.height), str(current.get("fingerprint")))
    return TableOutcome(table, 0, record, None, entry, facts, unstable=ahead)
