"""Append rows to a Parquet file's bytes without decoding the rows it keeps.

A Parquet file is ``PAR1``, row groups (column chunks), optional page indexes, then a footer
(Thrift compact ``FileMetaData``: schema, row groups with their byte offsets), its length, ``PAR1``.
To append, the kept row groups' bytes are copied as they are, the new rows (written to a Parquet file
of their own by the same writer) follow, and a new footer lists both sets of row groups, the new
ones' byte offsets shifted to where they now sit. Rewriting a 3-year table for one more day costs a
copy of its bytes instead of a decode and encode of every row.

Only the fields that hold byte offsets are touched; everything else in the footers is decoded and
encoded back as it was (a small Thrift compact reader and writer, :class:`Struct` and friends).
:func:`splice_row_groups` returns None when the two files' schemas or metadata differ, so that the
caller writes the whole table instead.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import Any

import polars as pl

MAGIC = b"PAR1"
# Thrift compact type ids
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)

# FileMetaData / RowGroup / ColumnChunk / ColumnMetaData field ids (parquet.thrift)
_FILE_SCHEMA, _FILE_NUM_ROWS, _FILE_ROW_GROUPS, _FILE_KEY_VALUE = 2, 3, 4, 5
_RG_COLUMNS, _RG_NUM_ROWS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 3, 5, 7
_CC_FILE_OFFSET, _CC_META, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX = 2, 3, 4, 6
_CC_PAGE_INDEX_FIELDS = (4, 5, 6, 7)
_CM_OFFSETS = (9, 10, 11, 14)  # data, index, dictionary page offsets; bloom filter offset
_CM_COMPRESSED_SIZE, _CM_DATA_PAGE, _CM_DICTIONARY_PAGE = 7, 9, 11


@dataclass
class Struct:
    """A Thrift struct: ``fields`` maps field id to ``(type id, value)`` in the order read."""

    fields: dict[int, tuple[int, Any]] = field(default_factory=dict)

    def get(self, fid: int) -> Any:
        return self.fields[fid][1] if fid in self.fields else None


@dataclass
class ThriftList:
    etype: int
    items: list[Any]


@dataclass
class ThriftMap:
    ktype: int
    vtype: int
    items: list[tuple[Any, Any]]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, t: int) -> Any:
        if t in (_TRUE, _FALSE):  # a list element: one byte
            return self.byte() == _TRUE
        if t == _BYTE:
            return struct.unpack("<b", bytes([self.byte()]))[0]
        if t in (_I16, _I32, _I64):
            return self.zigzag()
        if t == _DOUBLE:
            self.pos += 8
            return self.data[self.pos - 8 : self.pos]
        if t == _BINARY:
            n = self.varint()
            self.pos += n
            return self.data[self.pos - n : self.pos]
        if t in (_LIST, _SET):
            header = self.byte()
            size, etype = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            return ThriftList(etype, [self.value(etype) for _ in range(size)])
        if t == _MAP:
            size = self.varint()
            if not size:
                return ThriftMap(0, 0, [])
            kv = self.byte()
            kt, vt = kv >> 4, kv & 0x0F
            return ThriftMap(kt, vt, [(self.value(kt), self.value(vt)) for _ in range(size)])
        if t == _STRUCT:
            out = Struct()
            last = 0
            while True:
                header = self.byte()
                if header == 0:
                    return out
                ftype, delta = header & 0x0F, header >> 4
                fid = last + delta if delta else self.zigzag()
                if ftype in (_TRUE, _FALSE):
                    out.fields[fid] = (_TRUE, ftype == _TRUE)
                else:
                    out.fields[fid] = (ftype, self.value(ftype))
                last = fid
        raise ValueError(f"unknown thrift compact type {t}")


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, n: int) -> None:
        while True:
            if n < 0x80:
                self.out.append(n)
                return
            self.out.append((n & 0x7F) | 0x80)
            n >>= 7

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) ^ (n >> 63))

    def value(self, t: int, v: Any) -> None:
        if t in (_TRUE, _FALSE):
            self.out.append(_TRUE if v else _FALSE)
        elif t == _BYTE:
            self.out += struct.pack("<b", v)
        elif t in (_I16, _I32, _I64):
            self.zigzag(v)
        elif t == _DOUBLE:
            self.out += v
        elif t == _BINARY:
            self.varint(len(v))
            self.out += v
        elif t in (_LIST, _SET):
            size = len(v.items)
            if size < 15:
                self.out.append((size << 4) | v.etype)
            else:
                self.out.append(0xF0 | v.etype)
                self.varint(size)
            for item in v.items:
                self.value(v.etype, item)
        elif t == _MAP:
            self.varint(len(v.items))
            if v.items:
                self.out.append((v.ktype << 4) | v.vtype)
                for key, val in v.items:
                    self.value(v.ktype, key)
                    self.value(v.vtype, val)
        elif t == _STRUCT:
            last = 0
            for fid in sorted(v.fields):
                ftype, fval = v.fields[fid]
                if ftype in (_TRUE, _FALSE):
                    ftype = _TRUE if fval else _FALSE
                delta = fid - last
                if 0 < delta <= 15:
                    self.out.append((delta << 4) | ftype)
                else:
                    self.out.append(ftype)
                    self.zigzag(fid)
                if ftype not in (_TRUE, _FALSE):
                    self.value(ftype, fval)
                last = fid
            self.out.append(0)
        else:
            raise ValueError(f"unknown thrift compact type {t}")


def decode_struct(data: bytes) -> Struct:
    value = _Reader(data).value(_STRUCT)
    if not isinstance(value, Struct):
        raise ValueError("not a Thrift struct")
    return value


def encode_struct(value: Struct) -> bytes:
    writer = _Writer()
    writer.value(_STRUCT, value)
    return bytes(writer.out)


@dataclass(frozen=True)
class Footer:
    """A Parquet file's decoded footer and where it starts."""

    meta: Struct
    start: int

    @property
    def row_groups(self) -> list[Struct]:
        groups = self.meta.get(_FILE_ROW_GROUPS)
        return list(groups.items) if groups is not None else []

    def group_rows(self) -> list[int]:
        """Rows per row group, in file order."""
        return [int(g.get(_RG_NUM_ROWS)) for g in self.row_groups]


def parquet_bytes(df: pl.DataFrame) -> bytes:
    """``df`` as the Parquet bytes every table is stored as (:meth:`itb.storage.store.Storage.write_parquet`),
    so that its row groups can join a stored file's. LZ4 writes (and reads) several times faster
    than zstd for 10-40% more bytes: pipeline tables are mostly float columns, which no codec shrinks
    much. Statistics cost next to nothing. Polars writes no timestamps, so the same rows always
    give the same bytes."""
    buffer = io.BytesIO()
    # one chunk: polars writes a row group per large chunk, so the bytes would depend on how the
    # frame was put together (a concat of stored and new rows), not only on its rows
    df.rechunk().write_parquet(buffer, compression="lz4", statistics=True)
    return buffer.getvalue()


def read_footer(data: bytes | memoryview) -> Footer:
    """The footer of Parquet bytes; ValueError when they are not a Parquet file."""
    if len(data) < 12 or bytes(data[:4]) != MAGIC or bytes(data[-4:]) != MAGIC:
        raise ValueError("not a Parquet file")
    length = struct.unpack("<I", bytes(data[-8:-4]))[0]
    start = len(data) - 8 - length
    return Footer(decode_struct(bytes(data[start:-8])), start)


def footer_length(tail: bytes | memoryview) -> int:
    """How many bytes a Parquet file's footer takes, from at least its last 8 bytes (``tail``)."""
    if len(tail) < 8 or bytes(tail[-4:]) != MAGIC:
        raise ValueError("not a Parquet file")
    return int(struct.unpack("<I", bytes(tail[-8:-4]))[0])


def read_footer_from_end(tail: bytes | memoryview, size: int) -> Footer:
    """The footer of a Parquet file of ``size`` bytes from its last bytes (``tail``, which must hold
    the footer, its length and the magic: :func:`footer_length` + 8 bytes)."""
    length = footer_length(tail)
    if length + 8 > len(tail) or length + 12 > size:
        raise ValueError("the bytes given do not hold the Parquet footer")
    return Footer(decode_struct(bytes(tail[len(tail) - 8 - length : -8])), size - 8 - length)


def _group_start(group: Struct) -> int:
    """The byte offset of a row group's first page."""
    starts = []
    for column in group.get(_RG_COLUMNS).items:
        meta = column.get(_CC_META)
        dictionary = meta.get(_CM_DICTIONARY_PAGE)
        starts.append(dictionary if dictionary is not None else meta.get(_CM_DATA_PAGE))
    return int(min(starts))


def _shifted(group: Struct, delta: int, ordinal: int) -> Struct:
    fields = dict(group.fields)
    if _RG_FILE_OFFSET in fields:
        fields[_RG_FILE_OFFSET] = (_I64, fields[_RG_FILE_OFFSET][1] + delta)
    if _RG_ORDINAL in fields:
        fields[_RG_ORDINAL] = (_I16, ordinal)
    columns = []
    for column in group.get(_RG_COLUMNS).items:
        cfields = dict(column.fields)
        for fid in (_CC_FILE_OFFSET, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX):
            if fid in cfields:
                cfields[fid] = (_I64, cfields[fid][1] + delta)
        meta = cfields[_CC_META][1]
        mfields = {
            fid: ((t, v + delta) if fid in _CM_OFFSETS else (t, v)) for fid, (t, v) in meta.fields.items()
        }
        cfields[_CC_META] = (_STRUCT, Struct(mfields))
        columns.append(Struct(cfields))
    fields[_RG_COLUMNS] = (_LIST, ThriftList(_STRUCT, columns))
    return Struct(fields)


def _without_page_index(group: Struct, ordinal: int, before: int) -> Struct:
    """A kept row group whose page indexes may lie in the cut-off bytes (at or after ``before``)."""
    fields = dict(group.fields)
    if _RG_ORDINAL in fields:
        fields[_RG_ORDINAL] = (_I16, ordinal)
    columns = []
    for column in group.get(_RG_COLUMNS).items:
        cfields = dict(column.fields)
        if any(cfields.get(f, (0, 0))[1] >= before for f in (_CC_OFFSET_INDEX, _CC_COLUMN_INDEX)):
            for fid in _CC_PAGE_INDEX_FIELDS:
                cfields.pop(fid, None)
        columns.append(Struct(cfields))
    fields[_RG_COLUMNS] = (_LIST, ThriftList(_STRUCT, columns))
    return Struct(fields)


def _field_bytes(value: Struct, fid: int) -> bytes:
    """One field of a struct, encoded (to compare two footers' schemas)."""
    return encode_struct(Struct({fid: value.fields[fid]} if fid in value.fields else {}))


@dataclass(frozen=True)
class Splice:
    """A new Parquet file as ``stored[:cut] + tail``: the kept bytes, then new row groups and footer."""

    cut: int
    tail: bytes


def splice_row_groups(
    stored: bytes | memoryview, kept_groups: int, part: bytes | memoryview
) -> Splice | None:
    """``stored``'s first ``kept_groups`` row groups followed by every row group of ``part`` (a
    Parquet file of the same schema written by the same writer), as one Parquet file; None when the
    two files' schemas or key-value metadata differ."""
    old = read_footer(stored)
    groups = old.row_groups
    if kept_groups < len(groups):
        cut = _group_start(groups[kept_groups])
        kept = [_without_page_index(g, i, cut) for i, g in enumerate(groups[:kept_groups])]
    else:
        cut = old.start
        kept = groups
    joined = _joined(old, kept, part, cut)
    return None if joined is None else Splice(cut, joined)


def append_row_groups(old: Footer, size: int, kept_groups: int, part: bytes | memoryview) -> bytes | None:
    """What to write after the end of a stored Parquet file (``size`` bytes, footer ``old``) so that
    it reads as its first ``kept_groups`` row groups followed by every row group of ``part``: the new
    groups and a new footer. Nothing before ``size`` changes (a reader of the old version is never
    disturbed); the old footer and any row groups after the kept ones stay behind as unused bytes
    (:func:`unused_bytes`). None when the schemas or key-value metadata differ."""
    return _joined(old, old.row_groups[:kept_groups], part, size)


def unused_bytes(footer: Footer, size: int) -> int:
    """Bytes of a Parquet file (``size`` bytes, footer ``footer``) that no row group uses: earlier
    footers and replaced row groups left by :func:`append_row_groups` (and page indexes)."""
    live = 0
    for group in footer.row_groups:
        for column in group.get(_RG_COLUMNS).items:
            live += int(column.get(_CC_META).get(_CM_COMPRESSED_SIZE))
    return max(0, size - live - (size - footer.start) - len(MAGIC))


def _joined(old: Footer, kept: list[Struct], part: bytes | memoryview, at: int) -> bytes | None:
    """``part``'s row groups placed at byte ``at``, after the ``kept`` row groups of ``old``: the
    bytes from ``at`` to the end of the new file (row groups, footer, its length, the magic)."""
    new = read_footer(part)
    for fid in (_FILE_SCHEMA, _FILE_KEY_VALUE):
        if _field_bytes(old.meta, fid) != _field_bytes(new.meta, fid):
            return None
    delta = at - len(MAGIC)
    added = [_shifted(g, delta, len(kept) + i) for i, g in enumerate(new.row_groups)]
    all_groups = kept + added
    fields = dict(old.meta.fields)
    fields[_FILE_ROW_GROUPS] = (_LIST, ThriftList(_STRUCT, all_groups))
    fields[_FILE_NUM_ROWS] = (_I64, sum(int(g.get(_RG_NUM_ROWS)) for g in all_groups))
    footer = encode_struct(Struct(fields))
    body = memoryview(part)[len(MAGIC) : new.start]
    return b"".join([body, footer, struct.pack("<I", len(footer)), MAGIC])
