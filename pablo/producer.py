"""The click producer: PutRecords batching, resending exactly the failed records, spilling.

`ClickProducer(client=kinesis, stream_name=..., spill_path=...)`:

- batches records into PutRecords calls of at most 500 records and 5 MB (data + partition
  keys), each record at most 1 MB; partition key = account_id;
- PutRecords answers 200 even when some records failed (FailedRecordCount, a per-record
  ErrorCode): it resends exactly those records, with exponential backoff and full jitter
  (sleep and random are injectable), up to `max_attempts` calls per batch;
- when the stream stays unavailable (still failing after the attempts, or the stream is
  missing / the endpoint unreachable) it appends the unsent records to a spill file (JSON
  lines, fsync'd) and keeps spilling, probing the stream with one attempt per batch, until a
  call succeeds. `replay_spill()` sends the spill later; replays are idempotent because every
  record keeps its event_id and the pipeline deduplicates.
- it counts, per minute of event_time, the records sent and spilled (the PRODUCER_COUNTS
  table); every record offered is counted exactly once, in one of the two. A replay is not
  counted again (it returns its own totals), so `sent + spilled` stays what was offered and
  an hour that spilled stays marked as an outage in stream_completeness.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from functions.adapters import engagement_io
from functions.core import schemas
from functions.core.errors import ValidationError

MAX_RECORDS_PER_CALL: Final = 500
MAX_BYTES_PER_CALL: Final = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD: Final = 1024 * 1024
MAX_PARTITION_KEY_CHARS: Final = 256
FALLBACK_PARTITION_KEY: Final = "no-account"

# Errors after which retrying now cannot help: spill at once.
_UNAVAILABLE_CODES: Final = frozenset({"ResourceNotFoundException", "ResourceInUseException"})


@dataclass(frozen=True)
class OutgoingRecord:
    """One record as PutRecords takes it, plus the minute it is counted under."""

    data: bytes
    partition_key: str
    minute: datetime

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode("utf-8"))


@dataclass
class SendResult:
    sent: int = 0
    spilled: int = 0
    calls: int = 0
    resent: int = 0  # records sent again after a per-record failure
    spill_reason: str | None = None  # why the last records were spilled


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
    max_attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Per UTC day (YYYY-MM-DD) of event_time, per minute: a day's counts are rewritten
    # daily, so they are found without scanning every minute counted so far.
    _counts: dict[str, dict[datetime, _Counts]] = field(default_factory=dict, init=False)
    _unavailable: bool = field(default=False, init=False)

    # --- sending ---------------------------------------------------------------------

    def send(self, clicks: Iterable[Mapping[str, Any] | bytes]) -> SendResult:
        """Send click payloads (dicts are JSON-encoded; bytes are sent as they are)."""
        return self._send_all(self.prepare(c) for c in clicks)

    def prepare(self, click: Mapping[str, Any] | bytes) -> OutgoingRecord:
        if isinstance(click, bytes):
            data, fields = click, _fields_of(click)
        else:
            data, fields = msgspec.json.encode(click), click
        return OutgoingRecord(data, _partition_key(fields), self._minute_of(fields))

    def _send_all(self, records: Iterable[OutgoingRecord], *, count: bool = True) -> SendResult:
        result = SendResult()
        for batch in _batches(records):
            self._send_batch(batch, result, count=count)
        return result

    def _send_batch(self, batch: list[OutgoingRecord], result: SendResult, *, count: bool) -> None:
        pending = list(batch)
        attempts = 1 if self._unavailable else self.max_attempts
        reason = "no attempt"
        for attempt in range(attempts):
            if attempt:
                self.sleep(self._backoff(attempt))
            try:
                response = self.client.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in pending],
                )
            except (EndpointConnectionError, ClientError, BotoCoreError) as exc:
                result.calls += 1
                reason = " ".join(str(exc).split())
                if _stream_unavailable(exc):
                    break
                continue
            result.calls += 1
            self._unavailable = False
            accepted: list[OutgoingRecord] = []
            failed: list[OutgoingRecord] = []
            for record, outcome in zip(pending, response["Records"], strict=True):
                (failed if outcome.get("ErrorCode") else accepted).append(record)
            self._count(accepted, "sent", result, enabled=count)
            result.resent += len(failed)
            pending = failed
            if not pending:
                return
            codes = sorted(
                {str(r.get("ErrorCode")) for r in response["Records"] if r.get("ErrorCode")}
            )
            reason = f"records still failing after {attempt + 1} calls ({', '.join(codes)})"
        self._unavailable = True
        result.spill_reason = reason
        self._spill(pending, result, count=count)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2^attempt))."""
        return self.rand() * min(self.max_delay, self.base_delay * 2**attempt)

    # --- spilling and replay ---------------------------------------------------------

    def _spill(self, records: list[OutgoingRecord], result: SendResult, *, count: bool) -> None:
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            json.dumps(
                {
                    "partition_key": r.partition_key,
                    "minute": r.minute.isoformat(),
                    "data_b64": base64.b64encode(r.data).decode("ascii"),
                }
            )
            + "\n"
            for r in records
        ]
        with self.spill_path.open("a", encoding="utf-8") as spill:
            spill.writelines(lines)
            spill.flush()
            os.fsync(spill.fileno())
        self._count(records, "spilled", result, enabled=count)

    def spilled_records(self) -> list[OutgoingRecord]:
        return read_spill(self.spill_path) if self.spill_path.exists() else []

    def replay_spill(self) -> SendResult:
        """Send what was spilled; what still cannot be sent stays in the spill file.

        The spill is moved aside first, so records that fail again are appended to a fresh
        spill; the old one is deleted only after the replay. A crash in between leaves both
        files, and at worst some records are sent twice, which the pipeline deduplicates.
        """
        if not self.spill_path.exists():
            return SendResult()
        replaying = self.spill_path.with_suffix(self.spill_path.suffix + ".replaying")
        if not replaying.exists():
            os.replace(self.spill_path, replaying)
        records = read_spill(replaying)
        self._unavailable = False
        result = self._send_all(records, count=False)
        replaying.unlink()
        return result

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
        return engagement_io.write_producer_counts(
            s3, bucket=bucket, counts=table, producer_id=self.producer_id
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
                    )
                )
    return records


def _fields_of(data: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _partition_key(fields: Mapping[str, Any]) -> str:
    account = fields.get("account_id")
    if isinstance(account, str) and 0 < len(account) <= MAX_PARTITION_KEY_CHARS:
        return account
    return FALLBACK_PARTITION_KEY


def _batches(records: Iterable[OutgoingRecord]) -> Iterator[list[OutgoingRecord]]:
    """PutRecords-sized batches: <= 500 records and <= 5 MB each."""
    batch: list[OutgoingRecord] = []
    size = 0
    for record in records:
        if record.size > MAX_BYTES_PER_RECORD:
            raise ValidationError(
                f"a click of {record.size} bytes exceeds Kinesis's limit of "
                f"{MAX_BYTES_PER_RECORD} bytes per record; it cannot be sent",
                reason="oversized_record",
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


def _stream_unavailable(exc: Exception) -> bool:
    if isinstance(exc, EndpointConnectionError):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _UNAVAILABLE_CODES
    return False
