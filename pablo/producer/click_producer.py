"""The click producer, behaving like the Kinesis Producer Library: PutRecords batching,
resending exactly the failed records within a deadline, spilling only when the stream is gone.

`ClickProducer(client=kinesis, stream_name=..., spill_path=...)`:

- batches records into PutRecords calls of at most 500 records and 5 MB (data + partition
  keys), each record at most 1 MB; partition key = account_id (see `partition_key`);
- PutRecords answers 200 even when some records failed (FailedRecordCount, a per-record
  ErrorCode): it resends exactly those records, never the ones that succeeded, with
  exponential backoff and full jitter, for as long as the stream makes progress;
- a batch spills (its unsent records are appended to a JSON-lines spill file, fsync'd) only
  when `retry_deadline` seconds pass without the stream accepting any of them: the endpoint
  unreachable, the stream missing, or every record refused for that long. Each batch gets its
  own full deadline: there is no degraded mode in which one bad batch makes the next spill;
- `replay_spill()` sends the spill later, in spill order, with a checkpoint after each batch,
  so a replay that stops (the stream gone again, a crash) resumes where it stopped; what it
  cannot send stays in the spill, ahead of anything spilled since. A record sent twice (a
  crash between a send and its checkpoint) keeps its event_id, and the pipeline deduplicates.
- `sleep`, `monotonic` and `rand` are injectable: `VirtualTime` makes the waits free (tests,
  the demo's virtual outage) while the deadline still counts the backoff.
- it counts, per minute of event_time, the records sent and spilled (the PRODUCER_COUNTS
  table); every record offered is counted exactly once, in one of the two. A replay is not
  counted again as offered (it returns its own totals): each replayed record moves from
  spilled to sent in its minute, so `sent + spilled` stays what was offered and `spilled`
  is what is still unaccounted for; stream_completeness marks an hour incomplete while it is
  above zero. A replayed record carries the time it was first tried in its partition key
  (`definitions.spilled_partition_key`): the ingest measures lateness from then.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters import s3_tables
from functions.core import schemas
from functions.core.definitions import epoch_ms, spilled_partition_key
from functions.core.errors import ConfigurationError, ValidationError
from functions.core.ingest.clicks import OVERSIZED_RECORD

MAX_RECORDS_PER_CALL: Final = 500
MAX_BYTES_PER_CALL: Final = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD: Final = schemas.CLICK_LIMITS.max_record_bytes  # data + partition key
MAX_PARTITION_KEY_CHARS: Final = 256  # Kinesis's limit, in Unicode characters
# A record without a usable account_id is keyed by a hash of its bytes (see partition_key).
HASHED_KEY_PREFIX: Final = "sha256:"
# Like the KPL's default record TTL: how long a batch may go without the stream accepting
# any of its records before they spill.
DEFAULT_RETRY_DEADLINE_S: Final = 30.0

# Errors a retry cannot cure (credentials, permissions, a malformed call): the batch spills
# at once and the command stops with the error, instead of waiting out the deadline.
_NOT_RETRYABLE_CODES: Final = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ValidationException",
        "InvalidArgumentException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
    }
)


@dataclass(frozen=True)
class OutgoingRecord:
    """One record as PutRecords takes it, plus the minute it is counted under."""

    data: bytes
    partition_key: str
    minute: datetime
    # Set on a record that was spilled: when the producer first tried to send it.
    first_attempt_ms: int | None = None

    @property
    def kinesis_key(self) -> str:
        """The partition key sent: a replayed record's carries its first attempt, so the
        ingest measures lateness from when the click was first offered, not from the replay."""
        if self.first_attempt_ms is None:
            return self.partition_key
        return spilled_partition_key(self.first_attempt_ms, self.partition_key)

    @property
    def size(self) -> int:
        return len(self.data) + len(self.kinesis_key.encode("utf-8"))


@dataclass
class SendResult:
    sent: int = 0
    spilled: int = 0
    calls: int = 0
    retried: int = 0  # records sent again after a per-record failure or a failed call
    rejected: int = 0  # records Kinesis cannot take (over 1 MB), kept in the rejected file
    failed_calls: int = 0  # PutRecords calls that raised (endpoint, throttling, missing stream)
    spill_reason: str | None = None  # why the last records were spilled


@dataclass
class VirtualTime:
    """A clock that moves only when slept on: backoff waits cost nothing, and the retry
    deadline is counted in the waits themselves."""

    now: float = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@dataclass
class _Counts:
    sent: int = 0
    spilled: int = 0


@dataclass
class ClickProducer:
    client: Any  # a boto3 Kinesis client (or anything with put_records)
    stream_name: str
    spill_path: Path
    producer_id: str = "producer"
    retry_deadline: float = DEFAULT_RETRY_DEADLINE_S
    base_delay: float = 0.1
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Per UTC day (YYYY-MM-DD) of event_time, per minute: a day's counts are rewritten
    # daily, so they are found without scanning every minute counted so far.
    _counts: dict[str, dict[datetime, _Counts]] = field(default_factory=dict, init=False)

    # --- sending ---------------------------------------------------------------------

    def send(self, clicks: Iterable[Mapping[str, Any] | bytes]) -> SendResult:
        """Send click payloads (bytes as they are; dicts JSON-encoded, see `encode_click`)."""
        return self._send_all(self.prepare(c) for c in clicks)

    def prepare(self, click: Mapping[str, Any] | bytes) -> OutgoingRecord:
        if isinstance(click, bytes):
            data, fields = click, _fields_of(click)
        else:
            data, fields = encode_click(click), click
        return OutgoingRecord(data, partition_key(data, fields), self._minute_of(fields))

    @property
    def rejected_path(self) -> Path:
        """Where records Kinesis cannot take are kept (spill format, with a reason)."""
        return self._sibling(".rejected")

    def _send_all(self, records: Iterable[OutgoingRecord], *, count: bool = True) -> SendResult:
        result = SendResult()
        for batch in _batches(self._sendable(records, result)):
            first_attempt_ms = epoch_ms(self.clock())
            unsent, fatal = self._send_batch(batch, result, count=count)
            if unsent:
                self._spill(unsent, result, count=count, first_attempt_ms=first_attempt_ms)
            if fatal is not None:
                raise self._cannot_send(fatal) from fatal
        return result

    def _sendable(
        self, records: Iterable[OutgoingRecord], result: SendResult
    ) -> Iterator[OutgoingRecord]:
        """The records Kinesis can take; each bigger one goes to the rejected file (never
        offered to the stream, so counted neither sent nor spilled) and the rest go on."""
        for record in records:
            if record.size <= MAX_BYTES_PER_RECORD:
                yield record
                continue
            self.rejected_path.parent.mkdir(parents=True, exist_ok=True)
            with self.rejected_path.open("a", encoding="utf-8") as rejected:
                rejected.write(_spill_line(record, reason=OVERSIZED_RECORD))
                rejected.flush()
                os.fsync(rejected.fileno())
            result.rejected += 1

    def _cannot_send(self, error: Exception) -> ConfigurationError:
        return ConfigurationError(
            f"PutRecords to {self.stream_name} failed and retrying cannot help "
            f"({_error_code(error)}: {error}); the unsent records are in {self.spill_path} "
            "and the rest of the input was not sent"
        )

    def _send_batch(
        self, batch: list[OutgoingRecord], result: SendResult, *, count: bool
    ) -> tuple[list[OutgoingRecord], Exception | None]:
        """Send one batch; return what is still unsent when the deadline passed without
        progress (or at once on an error a retry cannot cure, returned with it)."""
        pending = list(batch)
        attempt = 0
        deadline = self.monotonic() + self.retry_deadline
        while True:
            if attempt:
                delay = self._backoff(attempt)
                if self.monotonic() + delay > deadline:
                    result.spill_reason = (
                        f"{result.spill_reason} (still failing after {attempt} calls, "
                        f"{self.retry_deadline:g} s without progress)"
                    )
                    return pending, None
                self.sleep(delay)
                result.retried += len(pending)
            attempt += 1
            result.calls += 1
            try:
                response = self.client.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": r.data, "PartitionKey": r.kinesis_key} for r in pending],
                )
            except (ClientError, BotoCoreError) as exc:
                result.failed_calls += 1
                result.spill_reason = " ".join(str(exc).split())
                if _error_code(exc) in _NOT_RETRYABLE_CODES:
                    return pending, exc
                continue
            accepted: list[OutgoingRecord] = []
            failed: list[OutgoingRecord] = []
            for record, outcome in zip(pending, response["Records"], strict=True):
                (failed if outcome.get("ErrorCode") else accepted).append(record)
            self._count(accepted, "sent", result, enabled=count)
            if not count:
                self._count_replayed(accepted)
            if not failed:
                return [], None
            if accepted:  # the stream answers: the deadline counts from its last progress
                deadline = self.monotonic() + self.retry_deadline
            codes = sorted({str(o["ErrorCode"]) for o in response["Records"] if o.get("ErrorCode")})
            result.spill_reason = f"records refused ({', '.join(codes)})"
            pending = failed

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2^attempt))."""
        return self.rand() * min(self.max_delay, self.base_delay * 2**attempt)

    # --- spilling and replay ---------------------------------------------------------

    def _spill(
        self,
        records: list[OutgoingRecord],
        result: SendResult,
        *,
        count: bool,
        first_attempt_ms: int,
    ) -> None:
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        # A record spilled again keeps the time it was first offered.
        lines = [
            _spill_line(r, first_attempt_ms=r.first_attempt_ms or first_attempt_ms) for r in records
        ]
        with self.spill_path.open("a", encoding="utf-8") as spill:
            spill.writelines(lines)
            spill.flush()
            os.fsync(spill.fileno())
        self._count(records, "spilled", result, enabled=count)

    def spilled_records(self) -> list[OutgoingRecord]:
        return read_spill(self.spill_path) if self.spill_path.exists() else []

    def replay_spill(self) -> SendResult:
        """Send what was spilled, in spill order; `spilled` in the result is what is still in
        the spill afterwards (nothing, unless the stream went away again).

        The spill is moved aside (`<spill>.replaying`) and a checkpoint (`<spill>.replayed`,
        the count of records sent) is written after each batch. At the first batch that
        cannot be sent the replay stops: that batch's unsent records and every later one go
        back to the spill, ahead of records spilled since, and nothing is sent out of order.
        A replay after a crash resumes at the checkpoint.
        """
        result = SendResult()
        replaying = self._sibling(".replaying")
        checkpoint = self._sibling(".replayed")
        while replaying.exists() or self.spill_path.exists():
            if not replaying.exists():
                os.replace(self.spill_path, replaying)
                checkpoint.unlink(missing_ok=True)
            records = read_spill(replaying)
            done = int(checkpoint.read_text()) if checkpoint.exists() else 0
            remainder: list[OutgoingRecord] = []
            fatal: Exception | None = None
            for batch in _batches(records[done:]):
                unsent, fatal = self._send_batch(batch, result, count=False)
                if unsent:
                    remainder = unsent + records[done + len(batch) :]
                    break
                done += len(batch)
                _write_durably(checkpoint, str(done))
            if remainder:
                self._put_back(remainder)
                result.spilled = len(read_spill(self.spill_path))
            replaying.unlink()
            checkpoint.unlink(missing_ok=True)
            if fatal is not None:
                raise self._cannot_send(fatal) from fatal
            if remainder:
                break
        return result

    def _sibling(self, suffix: str) -> Path:
        return self.spill_path.with_suffix(self.spill_path.suffix + suffix)

    def _put_back(self, records: list[OutgoingRecord]) -> None:
        """The spill becomes `records` followed by what was spilled since (one atomic rename)."""
        newer = self.spill_path.read_bytes() if self.spill_path.exists() else b""
        text = "".join(_spill_line(r) for r in records).encode("utf-8") + newer
        _write_durably(self._sibling(".tmp"), text)
        os.replace(self._sibling(".tmp"), self.spill_path)

    # --- counts ----------------------------------------------------------------------

    def _count(
        self, records: list[OutgoingRecord], kind: str, result: SendResult, *, enabled: bool
    ) -> None:
        setattr(result, kind, getattr(result, kind) + len(records))
        if not enabled:
            return
        for record in records:
            day = self._counts.setdefault(record.minute.date().isoformat(), {})
            counts = day.setdefault(record.minute, _Counts())
            setattr(counts, kind, getattr(counts, kind) + 1)

    def _count_replayed(self, records: list[OutgoingRecord]) -> None:
        """A replayed record is no longer spilled: its minute's count moves from spilled to
        sent, so `sent + spilled` stays what was offered and `spilled` is what is still
        unaccounted for (the hour turns complete once nothing is). Only minutes counted as
        spilled move (a replay in a new process takes up the uploaded counts first:
        `resume_counts`)."""
        for record in records:
            counts = self._counts.get(record.minute.date().isoformat(), {}).get(record.minute)
            if counts is not None and counts.spilled > 0:
                counts.spilled -= 1
                counts.sent += 1

    def resume_counts(self, s3: Any, *, bucket: str, days: Iterable[str]) -> None:
        """Take up the counts this producer id uploaded earlier for `days` (a replay in a new
        process: its moves from spilled to sent then correct the uploaded file instead of
        replacing it with the replay's counts alone)."""
        for day in sorted(set(days) - self._counts.keys()):
            uploaded = s3_tables.read_partition(
                s3, bucket=bucket, table=schemas.PRODUCER_COUNTS, partitions={"dt": day}
            )
            for row in uploaded.to_pylist():
                if row["producer_id"] != self.producer_id:
                    continue
                minute = row["minute"]
                minute = minute.replace(tzinfo=UTC) if minute.tzinfo is None else minute
                counts = self._counts.setdefault(day, {}).setdefault(
                    minute.astimezone(UTC), _Counts()
                )
                counts.sent += row["sent"]
                counts.spilled += row["spilled"]

    def counts_table(self, *, days: Iterable[str] | None = None) -> pa.Table:
        """PRODUCER_COUNTS rows (partition dt included), one per minute of event_time;
        only the minutes of `days` (YYYY-MM-DD) when given."""
        wanted = sorted(self._counts if days is None else set(days) & self._counts.keys())
        rows = [
            {
                "producer_id": self.producer_id,
                "minute": minute,
                "sent": c.sent,
                "spilled": c.spilled,
                "dt": day,
            }
            for day in wanted
            for minute, c in sorted(self._counts[day].items())
        ]
        schema = schemas.PRODUCER_COUNTS.arrow_schema(with_partitions=True)
        return pa.Table.from_pylist(rows, schema=schema)

    def upload_counts(
        self, s3: Any, *, bucket: str, days: Iterable[str] | None = None
    ) -> list[str]:
        """Write the counts to `raw/producer_counts/dt=.../<producer_id>.parquet` in `bucket`
        (the raw bucket), where the daily workflow compares them with what landed."""
        table = self.counts_table(days=days)
        if table.num_rows == 0:
            return []
        return s3_tables.write_per_day(
            s3, bucket=bucket, table=schemas.PRODUCER_COUNTS, rows=table, name=self.producer_id
        )

    def write_counts(self, path: Path) -> Path:
        """Write the counts as Parquet (`.parquet`) or JSON lines (anything else)."""
        table = self.counts_table()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            pq.write_table(table, path)
        else:
            with path.open("w", encoding="utf-8") as out:
                for row in table.to_pylist():
                    row["minute"] = row["minute"].isoformat()
                    out.write(json.dumps(row) + "\n")
        return path

    def _minute_of(self, fields: Mapping[str, Any]) -> datetime:
        """Minute of event_time (epoch ms); the producer's clock when it has none."""
        event_time = fields.get("event_time")
        if isinstance(event_time, int) and not isinstance(event_time, bool):
            try:
                moment = datetime.fromtimestamp(event_time / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                moment = self.clock()
        else:
            moment = self.clock()
        return moment.astimezone(UTC).replace(second=0, microsecond=0)


def read_spill(path: Path) -> list[OutgoingRecord]:
    """The records of a spill file, in the order they were spilled."""
    records = []
    with path.open(encoding="utf-8") as spill:
        for line in spill:
            if line.strip():
                item = json.loads(line)
                records.append(
                    OutgoingRecord(
                        data=base64.b64decode(item["data_b64"], validate=True),
                        partition_key=item["partition_key"],
                        minute=datetime.fromisoformat(item["minute"]),
                        first_attempt_ms=item.get("first_attempt_ms"),
                    )
                )
    return records


def encode_click(click: Mapping[str, Any]) -> bytes:
    """Compact JSON of a click, faithful to what it holds: a NaN or infinite float stays a
    `NaN`/`Infinity` literal (not null) and a lone surrogate becomes the bytes it stands for
    (invalid UTF-8), so the ingest function quarantines the record for what it is."""
    text = json.dumps(click, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def _spill_line(
    record: OutgoingRecord, *, reason: str | None = None, first_attempt_ms: int | None = None
) -> str:
    item: dict[str, Any] = {
        "partition_key": record.partition_key,
        "minute": record.minute.isoformat(),
        "data_b64": base64.b64encode(record.data).decode("ascii"),
    }
    attempt = first_attempt_ms if first_attempt_ms is not None else record.first_attempt_ms
    if attempt is not None:
        item["first_attempt_ms"] = attempt
    if reason is not None:
        item["reason"] = reason
    return json.dumps(item) + "\n"


def _write_durably(path: Path, content: str | bytes) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fields_of(data: bytes) -> Mapping[str, Any]:
    """The record's fields when its bytes parse as a JSON object, else nothing. Only the
    partition key and the counting minute come from them: the bytes are sent as they are."""
    try:
        value = json.loads(data)
    except Exception:  # any bytes at all (deep nesting, huge numbers): the hash key is used
        return {}
    return value if isinstance(value, dict) else {}


def partition_key(data: bytes, fields: Mapping[str, Any]) -> str:
    """account_id when the record has a usable one (a string of 1-256 characters that is
    valid Unicode, so it can be sent), else "sha256:" and the first 32 hex digits of the
    record's bytes: records that cannot be parsed spread over the shards, and a resend of the
    same bytes goes to the same shard."""
    account = fields.get("account_id")
    if isinstance(account, str) and 0 < len(account) <= MAX_PARTITION_KEY_CHARS:
        try:
            account.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: not a key Kinesis can take
        else:
            return account
    return HASHED_KEY_PREFIX + hashlib.sha256(data).hexdigest()[:32]


def _batches(records: Iterable[OutgoingRecord]) -> Iterator[list[OutgoingRecord]]:
    """PutRecords-sized batches: <= 500 records and <= 5 MB each."""
    batch: list[OutgoingRecord] = []
    size = 0
    for record in records:
        if record.size > MAX_BYTES_PER_RECORD:  # _sendable keeps them out
            raise ValidationError(
                f"a click of {record.size} bytes exceeds Kinesis's limit of "
                f"{MAX_BYTES_PER_RECORD} bytes per record; it cannot be sent",
                reason=OVERSIZED_RECORD,
            )
        if batch and (
            len(batch) == MAX_RECORDS_PER_CALL or size + record.size > MAX_BYTES_PER_CALL
        ):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record.size
    if batch:
        yield batch


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
