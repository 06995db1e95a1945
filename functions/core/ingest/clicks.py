"""Decode, validate and classify a batch of Kinesis click records (pure: no I/O).

`decode_batch(records, now=..., settings=...)` takes the `Records` list of a Lambda Kinesis
event and puts every record in exactly one of three places:

- accepted: a `RAW_CLICKS` row (partition `dt` = the event's UTC date, not the arrival date);
- duplicate: a later copy of an event_id already accepted in this batch (the first is kept);
- quarantined: a `QUARANTINE` row with the raw bytes and one of the reason codes below.

So `received == accepted + duplicates + quarantined`, always. Bad data never raises: a raised
error would make Lambda retry the whole batch and block the shard. Whatever a decoder raises
on a record's bytes (RecursionError and MemoryError included) sends the fast path to the
careful one, and the careful path turns it into that record's quarantine (`undecodable` when
no other reason code names it). Limits (record size, id length, nesting depth, timestamp
range) are the schema registry's `schemas.CLICK_LIMITS`.

Two paths give the same answer (property tests hold them to it):

- fast path, for the usual all-good batch (`_fast_batch`): base64 for the whole batch in one
  DuckDB `from_base64` call, the payloads as one JSON-lines buffer parsed by one msgspec typed
  `decode_lines` call, and batch-level checks (UTF-8, line count, colon count for repeated or
  unknown keys, int64 range). Any doubt sends the batch to...
- careful path, one record at a time: strict base64, a strict msgspec typed decode, and for
  the records it rejects, a diagnosis with the standard library that names the exact reason.

Field-level rules (ids, event type, timestamps, lateness) then run vectorised over the Arrow
columns, the same code for both paths.
"""

from __future__ import annotations

import binascii
import codecs
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import attrgetter, itemgetter
from typing import Any, Final, TypeVar

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from functions.core import definitions, schemas
from functions.core.codes import (
    BYTE_ORDER_MARK,
    CLICKS_SOURCE,
    DUPLICATE_JSON_KEY,
    FUTURE_TIMESTAMP,
    INVALID_BASE64,
    INVALID_ID,
    INVALID_JSON,
    INVALID_UTF8,
    MISSING_FIELD,
    NEGATIVE_TIMESTAMP,
    NESTING_TOO_DEEP,
    NON_FINITE_NUMBER,
    NOT_AN_OBJECT,
    NULL_FIELD,
    OVERSIZED_RECORD,
    TIMESTAMP_IN_SECONDS,
    TOO_LATE,
    UNDECODABLE,
    UNKNOWN_EVENT_TYPE,
    WRONG_TYPE,
)
from functions.core.schemas import CLICK_PAYLOAD_FIELDS, CLICK_STRING_FIELDS

# In the order they are checked: a record gets the first that applies (a lone surrogate
# inside a string is found while its field is checked, so it is reported there).
REASON_CODES: Final[tuple[str, ...]] = (
    OVERSIZED_RECORD,
    INVALID_BASE64,
    BYTE_ORDER_MARK,
    INVALID_UTF8,
    NESTING_TOO_DEEP,
    INVALID_JSON,
    UNDECODABLE,
    NON_FINITE_NUMBER,
    NOT_AN_OBJECT,
    DUPLICATE_JSON_KEY,
    MISSING_FIELD,
    NULL_FIELD,
    WRONG_TYPE,
    INVALID_ID,
    UNKNOWN_EVENT_TYPE,
    NEGATIVE_TIMESTAMP,
    TIMESTAMP_IN_SECONDS,
    FUTURE_TIMESTAMP,
    TOO_LATE,
)

MIN_EPOCH_MS: Final = schemas.CLICK_LIMITS.min_event_time_ms
_MS_PER_DAY: Final = 86_400_000

ID_FIELDS: Final = ("event_id", "account_id", "user_id")
# RAW_CLICKS columns whose values repeat within a file (see parquet.writer_options).
RAW_CLICKS_DICTIONARY_COLUMNS: Final = ("account_id", "user_id", "event_type", "page", "shard_id")
# zstd level 1 for the per-batch raw files: faster than level 3 on a 10,000-click batch and
# no bigger (bench/README.md); curated files keep level 3.
RAW_CLICKS_COMPRESSION_LEVEL: Final = 1


@dataclass(frozen=True)
class IngestSettings:
    """Limits of the click contract: the registry's (schemas.CLICK_LIMITS), with the
    lateness the deployment chose (the handler reads it from its environment)."""

    allowed_lateness: timedelta = timedelta(days=schemas.CLICK_LIMITS.allowed_lateness_days)
    max_future_skew: timedelta = timedelta(minutes=schemas.CLICK_LIMITS.max_future_skew_minutes)
    max_record_bytes: int = schemas.CLICK_LIMITS.max_record_bytes
    max_id_chars: int = schemas.CLICK_LIMITS.max_id_chars
    max_nesting_depth: int = schemas.CLICK_LIMITS.max_nesting_depth


@dataclass(frozen=True)
class BatchOutcome:
    """Where every record of one batch went."""

    batch_id: str  # "<shard>-<first sequence number>": names the batch's files (see object_key)
    received: int
    accepted: pa.Table  # RAW_CLICKS rows, partitions included
    duplicates: int
    quarantined: pa.Table  # QUARANTINE rows, partitions included
    # RAW_CLICKS rows of the `duplicates` later copies: they land in raw_clicks too, so the
    # daily dedup counts every copy (dedup_daily), in-batch ones included.
    duplicate_copies: pa.Table

    @property
    def event_dates(self) -> list[str]:
        """The `dt` partitions this batch writes to (the handler marks late ones dirty)."""
        return sorted(set(self.accepted.column("dt").to_pylist()))

    def reason_counts(self) -> dict[str, int]:
        """Quarantined records per reason code (for metrics and logs)."""
        counts: dict[str, int] = {}
        for reason in self.quarantined.column("reason").to_pylist():
            counts[reason] = counts.get(reason, 0) + 1
        return counts


@dataclass(frozen=True)
class _Envelopes:
    """The Kinesis metadata of a batch, one list per field (per-record objects cost too much)."""

    record_ids: list[str]  # eventID, "shardId-...:<sequence number>"
    shard_ids: pa.Array
    sequence_numbers: pa.Array
    arrival_ms: pa.Array  # approximateArrivalTimestamp in epoch milliseconds
    # When the click was first offered: the first attempt a spill replay carries in its
    # partition key (definitions.first_attempt_ms), else the arrival; never after arrival.
    offered_ms: pa.Array
    records: Sequence[Mapping[str, Any]]  # for the rare fields only quarantine needs
    data: list[Any]  # the base64 text; anything else is quarantined as invalid_base64


@dataclass(frozen=True)
class _Rejection:
    position: int
    reason: str
    detail: str
    raw: bytes


# --- public entry points -----------------------------------------------------------


def decode_batch(
    records: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    settings: IngestSettings | None = None,
) -> BatchOutcome:
    """Classify a Kinesis batch; `now` is the pipeline clock (quarantine time), never the wall."""
    settings = settings or IngestSettings()
    envelopes = _envelopes(records)
    rejections: list[_Rejection] = []
    parsed = _fast_batch_or_none(envelopes.data, settings)
    if parsed is not None:  # the usual batch: every record decodes cleanly
        positions = pa.array(range(len(records)), pa.int64())
        payload_at: Callable[[int], bytes] = partial(_payload_at, envelopes.data)
    else:
        payloads = _decode_bytes(envelopes.data, settings, rejections)
        parsed, positions = _parse(payloads, rejections, settings)
        payload_at = payloads.__getitem__
    arrival_ms = _take(envelopes.arrival_ms, positions)
    offered_ms = _take(envelopes.offered_ms, positions)
    reasons = _field_reasons(parsed, arrival_ms, settings, offered_ms=offered_ms)
    for row in pc.indices_nonzero(pc.is_valid(reasons)).to_pylist():
        reason = reasons[row].as_py()
        moment = (offered_ms if reason == TOO_LATE else arrival_ms)[row].as_py()
        detail = _field_detail(reason, parsed, row, moment, settings)
        position = positions[row].as_py()
        rejections.append(_Rejection(position, reason, detail, payload_at(position)))
    valid_rows = pc.indices_nonzero(pc.is_null(reasons)).cast(pa.int64())
    kept_rows = _first_copies(parsed.column("event_id"), valid_rows)
    accepted = _accepted_table(_take(parsed, kept_rows), envelopes, _take(positions, kept_rows))
    duplicates = len(valid_rows) - len(kept_rows)
    copy_rows = pc.filter(valid_rows, pc.invert(pc.is_in(valid_rows, kept_rows)))
    copies = _accepted_table(_take(parsed, copy_rows), envelopes, _take(positions, copy_rows))
    quarantined = _quarantine_table(rejections, envelopes, now=now)
    batch_id = _batch_id(envelopes)
    return BatchOutcome(batch_id, len(records), accepted, duplicates, quarantined, copies)


_Rows = TypeVar("_Rows", pa.Table, pa.Array, pa.ChunkedArray)


def _take(values: _Rows, rows: pa.Array) -> _Rows:
    """`values.take(rows)` for ascending, distinct row numbers: when they are all the rows
    (the usual batch: every record valid, none repeated) that is `values` itself, no copy."""
    return values if len(rows) == len(values) else values.take(rows)


def _payload_at(data: Sequence[Any], position: int) -> bytes:
    """A fast-path record's payload bytes again (only rejected records need them)."""
    return strict_b64decode(data[position])


def object_key(registry: schemas.Table, partitions: Mapping[str, str], batch_id: str) -> str:
    """S3 key of a batch's file: `<prefix>/<k>=<v>/.../<batch_id>.parquet`.

    The name comes from the batch's shard and FIRST sequence number, so Lambda retrying the
    same batch overwrites its own file instead of adding a copy. A batch retried in a different
    shape (bisected, or resumed after a partial failure) writes new files whose rows overlap
    earlier ones; raw_clicks is "before cross-batch dedup" and compaction removes them.
    """
    missing = set(registry.partition_names) - set(partitions)
    if missing:
        raise ValueError(f"{registry.name} key needs partitions {sorted(missing)}")
    path = "/".join(f"{k}={partitions[k]}" for k in registry.partition_names)
    return f"{registry.prefix}/{path}/{batch_id}.parquet"


# --- envelope and bytes --------------------------------------------------------------


def _envelopes(records: Sequence[Mapping[str, Any]]) -> _Envelopes:
    """Split the batch into metadata columns; a record without these keys is not Kinesis's."""
    kinesis = list(map(itemgetter("kinesis"), records))
    record_ids = [r.get("eventID") or "" for r in records]
    sequence_numbers = pa.array(list(map(itemgetter("sequenceNumber"), kinesis)), pa.string())
    arrivals = list(map(itemgetter("approximateArrivalTimestamp"), kinesis))
    arrival_s = pa.array(arrivals, pa.float64())
    arrival_ms = pc.round(pc.multiply(arrival_s, 1000)).cast(pa.int64())
    return _Envelopes(
        record_ids=record_ids,
        shard_ids=_shard_ids(record_ids),
        sequence_numbers=sequence_numbers,
        arrival_ms=arrival_ms,
        offered_ms=_offered_ms(kinesis, arrival_ms),
        records=records,
        data=[k.get("data") for k in kinesis],  # .get: a missing data is quarantined
    )


def _offered_ms(kinesis: Sequence[Mapping[str, Any]], arrival_ms: pa.Array) -> pa.Array:
    """Per record, the earlier of its arrival and the first attempt a spill replay carries
    (a marker can make a click less late, never later than its arrival)."""
    first = [definitions.first_attempt_ms(k.get("partitionKey")) for k in kinesis]
    if not any(first):
        return arrival_ms
    return pc.min_element_wise(pa.array(first, pa.int64()), arrival_ms, skip_nulls=True)


def _shard_ids(record_ids: list[str]) -> pa.Array:
    """The shard of each eventID ("shardId-...:<sequence number>"). A Lambda batch comes from
    one shard, so the usual answer is one value repeated, checked with one prefix test."""
    ids = pa.array(record_ids, pa.string())
    if record_ids:
        first = record_ids[0].partition(":")[0]
        if pc.all(pc.starts_with(ids, first + ":")).as_py():
            return pa.repeat(pa.scalar(first, pa.string()), len(ids))
    return pc.list_element(pc.split_pattern(ids, ":", max_splits=1), 0).cast(pa.string())


def _batch_id(envelopes: _Envelopes) -> str:
    """ "<shard>-<first sequence number>": the same batch, retried, gets the same id."""
    if not envelopes.record_ids:
        return "empty"
    return f"{envelopes.shard_ids[0].as_py()}-{envelopes.sequence_numbers[0].as_py()}"


def strict_b64decode(text: str | bytes) -> bytes:
    """`base64.b64decode(text, validate=True)` without its regex pass (tests check they agree)."""
    if isinstance(text, str):
        text = text.encode("ascii")  # non-ASCII raises UnicodeEncodeError, a ValueError
    return binascii.a2b_base64(text, strict_mode=True)


def _max_b64_chars(max_bytes: int) -> int:
    return 4 * math.ceil(max_bytes / 3)


def _decode_bytes(
    data: Sequence[Any], settings: IngestSettings, rejections: list[_Rejection]
) -> list[bytes]:
    """The payload bytes of every record (b"" for the ones rejected here)."""
    limit_chars = _max_b64_chars(settings.max_record_bytes)
    a2b = binascii.a2b_base64
    try:
        # The usual batch: every record is a small, valid base64 string.
        if data and max(map(len, data)) <= limit_chars:
            payloads = [a2b(text, strict_mode=True) for text in data]
            if max(map(len, payloads)) <= settings.max_record_bytes:
                return payloads
    except (binascii.Error, ValueError, TypeError):
        pass
    payloads = []
    for position, text in enumerate(data):
        payload, rejection = _decode_one(position, text, settings, limit_chars)
        payloads.append(payload)
        if rejection is not None:
            rejections.append(rejection)
    return payloads


def _decode_one(
    position: int, text: Any, settings: IngestSettings, limit_chars: int
) -> tuple[bytes, _Rejection | None]:
    if not isinstance(text, str):
        raw = b"" if text is None else str(text).encode("utf-8", "surrogatepass")
        detail = f"kinesis.data is {type(text).__name__}, not base64 text"
        return b"", _Rejection(position, INVALID_BASE64, detail, raw)
    if len(text) > limit_chars:  # checked on the text so an oversized record is never decoded
        detail = f"about {len(text) * 3 // 4} bytes > {settings.max_record_bytes}"
        raw = text.encode("utf-8", "surrogatepass")
        return b"", _Rejection(position, OVERSIZED_RECORD, detail, raw)
    try:
        payload = strict_b64decode(text)
    except (binascii.Error, ValueError) as exc:
        raw = text.encode("utf-8", "surrogatepass")
        return b"", _Rejection(position, INVALID_BASE64, str(exc), raw)
    if len(payload) > settings.max_record_bytes:
        detail = f"{len(payload)} bytes > {settings.max_record_bytes}"
        return b"", _Rejection(position, OVERSIZED_RECORD, detail, payload)
    return payload, None


# --- parsing -------------------------------------------------------------------------

_PAYLOAD_SCHEMA: Final = pa.schema(
    [
        *(pa.field(name, pa.string()) for name in CLICK_STRING_FIELDS),
        pa.field("event_time", pa.int64()),
        pa.field("page", pa.string()),
    ]
)


class ClickPayload(msgspec.Struct, gc=False):
    """The contract, for msgspec's strict typed decode (gc=False: only strings and ints,
    no cycles, so 10,000 of them do not wake the cyclic garbage collector)."""

    event_id: str
    account_id: str
    user_id: str
    event_type: str
    event_time: int
    # UNSET tells an absent page from a null one (the duplicate-key check counts keys).
    page: str | msgspec.UnsetType | None = msgspec.UNSET


_PAYLOAD_DECODER: Final = msgspec.json.Decoder(ClickPayload)


def _parse(
    payloads: Sequence[bytes], rejections: list[_Rejection], settings: IngestSettings
) -> tuple[pa.Table, pa.Array]:
    """Arrow columns of every structurally valid payload, and their batch positions."""
    rejected = {r.position for r in rejections}
    positions = [p for p in range(len(payloads)) if p not in rejected]
    kept = [payloads[p] for p in positions] if rejected else payloads
    table = None
    if all([payload[:1] == b"{" for payload in kept]):
        table = _fast_parse(b"".join([payload + b"\n" for payload in kept]), len(kept))
    if table is None:
        table, positions = _careful_parse(payloads, positions, rejections, settings)
    return table, pa.array(positions, pa.int64())


def _fast_batch_or_none(data: Sequence[Any], settings: IngestSettings) -> pa.Table | None:
    """`_fast_batch`, where any exception means "take the careful path": the fast path only
    ever speeds up the common case, the careful path decides each record's fate."""
    try:
        return _fast_batch(data, settings)
    except Exception:  # whatever a decoder raises on bytes: look closer
        return None


def _fast_batch(data: Sequence[Any], settings: IngestSettings) -> pa.Table | None:
    """The whole batch decoded and parsed in a few vectorised calls, or None when any record
    needs a closer look (then the careful path names each record's exact fault).

    Base64 is decoded by DuckDB's `from_base64` (C speed, where CPython's decoder is the
    largest cost of the path), which is strict except for data after padding ("QQ=a"):
    `_padding_is_final` refuses that. The payloads come back as one Arrow binary column
    whose values buffer, with a newline appended to each, is the JSON-lines input of
    `_fast_parse`: no per-record Python bytes at all.
    """
    if not data:
        return None
    try:
        texts = pa.array(data, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None  # a record without base64 text
    lengths = pc.binary_length(texts)
    if texts.null_count or pc.max(lengths).as_py() > _max_b64_chars(settings.max_record_bytes):
        return None
    if not _padding_is_final(texts):
        return None
    try:
        lines = _b64_lines(texts)
    except duckdb.Error:
        return None  # invalid base64 somewhere
    payload_lengths = pc.subtract(pc.binary_length(lines), 1)
    if pc.max(payload_lengths).as_py() > settings.max_record_bytes:
        return None
    if not pc.all(pc.starts_with(lines, "{")).as_py():
        return None  # JSON lines needs each record to open an object on its own line
    return _fast_parse(_values(lines), len(data))


def _padding_is_final(texts: pa.Array) -> bool:
    """No text ends in "=" followed by data ("QQ=a"): the one non-strict form from_base64
    accepts ("=" anywhere before the last quad, missing padding, whitespace and foreign
    characters it refuses; tests hold it to the standard library's strict decoder). Only
    the last two bytes of each text are looked at."""
    tails = pc.binary_slice(texts.cast(pa.binary()), -2)
    data_after_pad = pc.and_(pc.starts_with(tails, "="), pc.invert(pc.ends_with(tails, "=")))
    return not pc.any(data_after_pad).as_py()


_B64_CONNECTION: list[duckdb.DuckDBPyConnection] = []


def _b64_lines(texts: pa.Array) -> pa.Array:
    """from_base64 of each text with a newline appended, as one Arrow binary array."""
    if not _B64_CONNECTION:
        _B64_CONNECTION.append(duckdb.connect(":memory:", config={"threads": 1}))
    con = _B64_CONNECTION[0]
    con.register("clicks_batch", pa.table({"d": texts}))
    sql = "SELECT from_base64(d) || '\n'::BLOB AS b FROM clicks_batch"
    # A relation streams into Arrow; `execute` would first materialise DuckDB's own result
    # (bench/README.md).
    result = con.sql(sql).fetch_arrow_table()
    return result.column("b").combine_chunks().cast(pa.binary())


_PAGE: Final = "page"


def _fast_parse(buffer: bytes, count: int) -> pa.Table | None:
    """`count` JSON-lines payloads (each ending in a newline) parsed by one msgspec call into
    Arrow columns, or None when any payload needs the careful path.

    msgspec's typed decode is the contract's type check (no bool or float for the integer, no
    NaN, no null or missing required field, no lone surrogate). What it cannot see is checked
    on the whole buffer: lines that do not match payloads (every payload starts with "{",
    so each gives at least one object or an error: the row count proves each gave exactly
    one, even with a newline inside), invalid UTF-8, an int beyond int64 (Arrow
    refuses it), and a repeated or unknown key (msgspec keeps the last copy), found by counting
    colons as `_may_repeat_a_key` does for one record: over the batch the raw colons equal
    the contract's keys plus the colons inside the decoded values exactly when no record has
    an extra key, since each record can only have more.
    """
    # An escaped colon ("\\u003a") is a colon the count below cannot see; most batches hold
    # no backslash at all, and looking for one is a memchr.
    if b"\r" in buffer or (b"\\" in buffer and b"\\u003" in buffer):
        return None
    try:
        buffer.decode("utf-8")  # refuses UTF-8-encoded surrogates too; memchr speed on ASCII
        rows = _PAYLOAD_DECODER.decode_lines(buffer)
    except Exception:  # RecursionError, MemoryError too: look closer
        return None
    if len(rows) != count:
        return None
    columns = {name: list(map(attrgetter(name), rows)) for name in CLICK_PAYLOAD_FIELDS}
    pages = columns[_PAGE]
    absent = pages.count(msgspec.UNSET)
    if absent:
        columns[_PAGE] = [None if page is msgspec.UNSET else page for page in pages]
    try:
        table = pa.table(columns, schema=_PAYLOAD_SCHEMA)
    except (OverflowError, UnicodeEncodeError, pa.ArrowException):
        return None
    keys = count * (len(CLICK_PAYLOAD_FIELDS)) - absent
    inner = sum(_colons(table.column(name)) for name in (*CLICK_STRING_FIELDS, _PAGE))
    if buffer.count(b":") != keys + inner:
        return None
    return table


def _colons(column: pa.ChunkedArray) -> int:
    """Colons inside a string column's values (counted in its data buffers, no row objects)."""
    return sum(_values(chunk).count(b":") for chunk in column.chunks)


def _values(array: pa.Array) -> bytes:
    """The concatenated values of a string/binary array (int32 offsets), straight from its
    buffers: what `b"".join(array.to_pylist())` gives, without a Python object per row."""
    if len(array) == 0:
        return b""
    _, offsets_buffer, data = array.buffers()[:3]
    offsets = memoryview(offsets_buffer).cast("i")
    start, end = offsets[array.offset], offsets[array.offset + len(array)]
    return b"" if data is None else data.to_pybytes()[start:end]


def _careful_parse(
    payloads: Sequence[bytes],
    positions: Sequence[int],
    rejections: list[_Rejection],
    settings: IngestSettings,
) -> tuple[pa.Table, list[int]]:
    rows: list[ClickPayload] = []
    kept: list[int] = []
    for position in positions:
        raw = payloads[position]
        verdict = parse_payload(raw, max_depth=settings.max_nesting_depth)
        if isinstance(verdict, ClickPayload):
            rows.append(verdict)
            kept.append(position)
        else:
            reason, detail = verdict
            rejections.append(_Rejection(position, reason, detail, raw))
    columns = {name: [getattr(row, name) for row in rows] for name in CLICK_STRING_FIELDS}
    columns["event_time"] = [row.event_time for row in rows]
    columns["page"] = [None if row.page is msgspec.UNSET else row.page for row in rows]
    return pa.table(columns, schema=_PAYLOAD_SCHEMA), kept


def parse_payload(
    raw: bytes, *, max_depth: int = schemas.CLICK_LIMITS.max_nesting_depth
) -> ClickPayload | tuple[str, str]:
    """One payload: the decoded contract fields, or (reason code, detail). Never raises.

    msgspec accepts exactly the records with the contract's keys and types (depth 1); any
    other record (an extra key, however deep, shows as an extra colon) gets the diagnosis.
    """
    try:
        payload = _PAYLOAD_DECODER.decode(raw)
    except Exception:  # whatever msgspec raises on bytes: diagnose says why
        return diagnose(raw, max_depth=max_depth)
    if _may_repeat_a_key(raw, payload):
        return diagnose(raw, max_depth=max_depth)
    if not -(2**63) <= payload.event_time < 2**63:  # JSON integers are unbounded; int64 is not
        return diagnose(raw, max_depth=max_depth)
    return payload


def _may_repeat_a_key(raw: bytes, payload: ClickPayload) -> bool:
    """False only when the object certainly has no repeated key (msgspec keeps the last).

    Every colon outside a string separates a key from its value, so the raw colon count is
    the number of keys plus the colons inside strings. When it equals the contract's keys
    plus the colons inside the decoded values, there is no extra key: repeated or unknown.
    A `\\u003a` escape is a colon that is not a raw colon, so its presence sends the record
    to the exact check, as does any mismatch (e.g. a harmless unknown field).
    """
    if b"\\u003" in raw:
        return True
    page = payload.page
    keys = len(CLICK_STRING_FIELDS) + 1 + (page is not msgspec.UNSET)
    inner = sum(getattr(payload, name).count(":") for name in CLICK_STRING_FIELDS)
    inner += page.count(":") if isinstance(page, str) else 0
    return raw.count(b":") != keys + inner


def diagnose(
    raw: bytes, *, max_depth: int = schemas.CLICK_LIMITS.max_nesting_depth
) -> ClickPayload | tuple[str, str]:
    """The exact verdict on one payload, with the standard library (slow, thorough).

    Never raises: a failure no reason code names is `undecodable`, with the exception.
    """
    try:
        return _diagnose(raw, max_depth)
    except Exception as exc:  # e.g. MemoryError: this record only
        return UNDECODABLE, f"{type(exc).__name__}: {exc}"


_BYTE_ORDER_MARKS: Final = (
    codecs.BOM_UTF8,
    codecs.BOM_UTF32_LE,  # before UTF-16 LE, whose mark is its prefix
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)
# Python's int() refuses more than 4,300 digits; any integer this long is beyond int64 anyway.
_MAX_INT_DIGITS: Final = 64
_BEYOND_INT64: Final = 2**64


def _parse_int(text: str) -> int:
    if len(text) <= _MAX_INT_DIGITS:
        return int(text)
    return -_BEYOND_INT64 if text.startswith("-") else _BEYOND_INT64


def _diagnose(raw: bytes, max_depth: int) -> ClickPayload | tuple[str, str]:
    mark = next((m for m in _BYTE_ORDER_MARKS if raw.startswith(m)), None)
    if mark is not None:
        return BYTE_ORDER_MARK, f"the record opens with the byte-order mark {mark!r}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return INVALID_UTF8, str(exc)
    if nests_deeper_than(raw, max_depth):
        return NESTING_TOO_DEEP, f"arrays/objects nest more than {max_depth} levels deep"
    non_finite: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [k for k, _ in pairs]
        if len(names) != len(set(names)):
            obj: dict[str, Any] = _RepeatedKeys(pairs)
            return obj
        return dict(pairs)

    def constant_hook(name: str) -> float:
        non_finite.append(name)
        return math.nan

    def float_hook(text: str) -> float:
        number = float(text)
        if not math.isfinite(number):  # 1e400 overflows a double
            non_finite.append(text[:32])
        return number

    try:
        value = json.loads(
            text,
            object_pairs_hook=pairs_hook,
            parse_constant=constant_hook,
            parse_float=float_hook,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as exc:
        return INVALID_JSON, str(exc)
    if _holds_lone_surrogate(value):
        return INVALID_UTF8, "a string holds a lone surrogate escape (not valid Unicode)"
    if non_finite:
        return NON_FINITE_NUMBER, f"{non_finite[0]} is not a JSON number"
    if not isinstance(value, dict):
        return NOT_AN_OBJECT, f"payload is a JSON {type(value).__name__}, not an object"
    if isinstance(value, _RepeatedKeys):
        return DUPLICATE_JSON_KEY, f"keys repeated: {', '.join(value.repeated())}"
    return _check_fields(value)


# A JSON string (its escapes included, closed or not) or one structural character: enough
# to follow a document's shape without parsing it. Strings are matched whole so brackets,
# commas and colons inside them do not count. (pablo send-clicks finds envelopes with it.)
JSON_STRUCTURE: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{},:]', re.DOTALL)


def nests_deeper_than(raw: bytes, max_depth: int) -> bool:
    """Whether arrays and objects in `raw` nest deeper than `max_depth` (the record itself
    is depth 1), found on the bytes without parsing, so no depth can exhaust a stack. A
    record with no more brackets than `max_depth` cannot be deeper: no scan at all."""
    if raw.count(b"{") + raw.count(b"[") <= max_depth:
        return False
    depth = 0
    for token in JSON_STRUCTURE.finditer(raw):
        opener = token.group()[:1]
        if opener in (b"{", b"["):
            depth += 1
            if depth > max_depth:
                return True
        elif opener in (b"}", b"]"):
            depth -= 1
    return False


class _RepeatedKeys(dict[str, Any]):
    """An object that named a key more than once (only the top level matters)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self._names = [k for k, _ in pairs]

    def repeated(self) -> list[str]:
        return sorted(k for k, n in Counter(self._names).items() if n > 1)


def _check_fields(obj: dict[str, Any]) -> ClickPayload | tuple[str, str]:
    for name in (*CLICK_STRING_FIELDS, "event_time"):
        if name not in obj:
            return MISSING_FIELD, f"{name} is missing"
        if obj[name] is None:
            return NULL_FIELD, f"{name} is null"
    for name in (*CLICK_STRING_FIELDS, "page"):
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            return WRONG_TYPE, f"{name} is {type(value).__name__}, not a string"
    event_time = obj["event_time"]
    if isinstance(event_time, float) and not math.isfinite(event_time):
        return NON_FINITE_NUMBER, f"event_time {event_time} is not finite"
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        return WRONG_TYPE, f"event_time is {type(event_time).__name__}, not integer milliseconds"
    if not -(2**63) <= event_time < 2**63:
        return FUTURE_TIMESTAMP if event_time > 0 else NEGATIVE_TIMESTAMP, "beyond int64"
    # Structurally valid (e.g. it only carries an unknown field): the field rules decide.
    return ClickPayload(
        event_id=obj["event_id"],
        account_id=obj["account_id"],
        user_id=obj["user_id"],
        event_type=obj["event_type"],
        event_time=event_time,
        page=obj.get("page", msgspec.UNSET),
    )


def _holds_lone_surrogate(value: Any) -> bool:
    """Whether any string of the parsed record, keys included, holds a lone surrogate (an
    escape like "\\ud800" that UTF-8 cannot encode): the record is not valid Unicode text."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# --- field rules (vectorised, shared by both paths) ------------------------------------

_EVENT_TYPES: Final = pa.array(schemas.CLICK_EVENT_TYPES, pa.string())


def _field_reasons(
    parsed: pa.Table,
    arrival_ms: pa.ChunkedArray,
    settings: IngestSettings,
    *,
    offered_ms: pa.ChunkedArray,
) -> pa.ChunkedArray | pa.Array:
    """A reason code per row (null when the row is valid); the first failing rule wins."""
    if parsed.num_rows == 0:
        return pa.array([], pa.string())
    event_time = parsed.column("event_time")
    bad_id = [_bad_ids(parsed.column(name), settings.max_id_chars) for name in ID_FIELDS]
    rules = {
        INVALID_ID: pc.or_(pc.or_(bad_id[0], bad_id[1]), bad_id[2]),
        UNKNOWN_EVENT_TYPE: pc.invert(pc.is_in(parsed.column("event_type"), _EVENT_TYPES)),
        NEGATIVE_TIMESTAMP: pc.less(event_time, 0),
        TIMESTAMP_IN_SECONDS: pc.less(event_time, MIN_EPOCH_MS),
        FUTURE_TIMESTAMP: pc.greater(event_time, pc.add(arrival_ms, _ms(settings.max_future_skew))),
        # Late is measured from when the click was first offered: a click the producer held
        # in its spill through an outage is not late however long the outage lasted.
        TOO_LATE: pc.less(
            event_time,
            pc.subtract(offered_ms, _ms(settings.allowed_lateness)),
        ),
    }
    conditions = pc.make_struct(*rules.values(), field_names=list(rules))
    return pc.case_when(conditions, *(pa.scalar(code) for code in rules))


def _bad_ids(column: pa.ChunkedArray, max_chars: int) -> pa.ChunkedArray:
    # Blank = empty or only whitespace (utf8_is_space is false on ""): what str.strip() and
    # utf8_trim_whitespace call blank, checked over all of Unicode, without a trimmed copy.
    lengths = pc.utf8_length(column)
    blank = pc.or_(pc.equal(lengths, 0), pc.utf8_is_space(column))
    return pc.or_(blank, pc.greater(lengths, max_chars))


def _field_detail(
    reason: str, parsed: pa.Table, row: int, arrival_ms: int, settings: IngestSettings
) -> str:
    values = {name: parsed.column(name)[row].as_py() for name in CLICK_PAYLOAD_FIELDS}
    event_time = values["event_time"]
    arrival = _iso(int(arrival_ms))
    if reason == INVALID_ID:
        bad = [
            n for n in ID_FIELDS if not values[n].strip() or len(values[n]) > settings.max_id_chars
        ]
        return f"{', '.join(bad)} blank or longer than {settings.max_id_chars} characters"
    if reason == UNKNOWN_EVENT_TYPE:
        return f"event_type {values['event_type'][:64]!r} is not one of {schemas.CLICK_EVENT_TYPES}"
    if reason == FUTURE_TIMESTAMP:
        return f"event_time {event_time} is after arrival {arrival} + {settings.max_future_skew}"
    if reason == TOO_LATE:
        return (
            f"event_time {event_time} is before first sent {arrival} - {settings.allowed_lateness}"
        )
    return f"event_time {event_time}"


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat()


def _first_copies(event_ids: pa.ChunkedArray, valid_rows: pa.Array) -> pa.Array:
    """Row numbers (ascending) of the valid rows that are the first copy of their event_id."""
    if len(valid_rows) == 0:
        return valid_rows
    ids = _take(event_ids, valid_rows)
    if pc.count_distinct(ids).as_py() == len(valid_rows):
        return valid_rows  # the usual batch: nothing repeated
    first = (
        pa.table({"id": ids, "row": valid_rows})
        .group_by("id", use_threads=False)
        .aggregate([("row", "min")])
    )
    return pa.array(sorted(first.column("row_min").to_pylist()), pa.int64())


# --- output tables -------------------------------------------------------------------


def _accepted_table(kept: pa.Table, envelopes: _Envelopes, positions: pa.Array) -> pa.Table:
    """RAW_CLICKS rows of the kept payloads; `positions` are their places in the batch."""
    event_ms = kept.column("event_time")
    timestamp = pa.timestamp("ms", tz="UTC")
    # Valid event times are positive, so integer division is the floor: the UTC day number.
    days = pc.divide(event_ms, _MS_PER_DAY).cast(pa.int32())
    columns: dict[str, Any] = {name: kept.column(name) for name in CLICK_PAYLOAD_FIELDS}
    columns["event_time"] = event_ms.cast(timestamp)
    columns["arrival_time"] = _take(envelopes.arrival_ms, positions).cast(timestamp)
    columns["shard_id"] = _take(envelopes.shard_ids, positions)
    columns["sequence_number"] = _take(envelopes.sequence_numbers, positions)
    columns["dt"] = days.cast(pa.date32()).cast(pa.string())
    schema = schemas.RAW_CLICKS.arrow_schema(with_partitions=True)
    return pa.table([columns[name] for name in schema.names], schema=schema)


# A detail names what was wrong; the raw bytes are kept whole in `raw`.
_MAX_DETAIL_CHARS: Final = 500


def _printable(detail: str) -> str:
    """The detail as valid UTF-8 (a repeated key may hold a lone surrogate), cut short."""
    short = detail if len(detail) <= _MAX_DETAIL_CHARS else detail[:_MAX_DETAIL_CHARS] + "..."
    return short.encode("utf-8", "backslashreplace").decode("utf-8")


def _quarantine_table(
    rejections: Sequence[_Rejection], envelopes: _Envelopes, *, now: datetime
) -> pa.Table:
    ordered = sorted(rejections, key=lambda r: r.position)
    at = pa.array([r.position for r in ordered], pa.int64())
    now_utc = now.astimezone(UTC)
    n = len(ordered)
    schema = schemas.QUARANTINE.arrow_schema(with_partitions=True)
    columns: dict[str, Any] = {
        "record_id": [envelopes.record_ids[r.position] for r in ordered],
        "source": [CLICKS_SOURCE] * n,
        "reason": [r.reason for r in ordered],
        "detail": [_printable(r.detail) for r in ordered],
        "raw": [r.raw for r in ordered],
        "received_at": [now_utc] * n,
        "source_key": [envelopes.records[r.position].get("eventSourceARN") for r in ordered],
        "line_number": [None] * n,
        "shard_id": envelopes.shard_ids.take(at),
        "sequence_number": envelopes.sequence_numbers.take(at),
        "pipeline": [schemas.Pipeline.ENGAGEMENT.value] * n,
        "dt": [now_utc.date().isoformat()] * n,
    }
    return pa.table([columns[name] for name in schema.names], schema=schema)
