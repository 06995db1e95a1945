"""Kinesis event source mappings with AWS's semantics, in the emulator.

moto delivers each Kinesis record to the mapped function on its own as it is put, ignoring
BatchSize, partial batch responses and every error-handling setting. This extension turns
that delivery off and polls instead: one thread per enabled Kinesis mapping (the list is
re-read every `refresh_seconds`, so new, disabled and deleted mappings are picked up),
each reading its shards in order through the Kinesis API and invoking the function
through the Lambda API (which the emulator's Lambda runtime executes for real).

Semantics (the pure rules are in `pablo.local.esm_batches`): StartingPosition
TRIM_HORIZON, LATEST (the tip when the poller first sees the mapping) and AT_TIMESTAMP;
BatchSize; ReportBatchItemFailures; BisectBatchOnFunctionError; MaximumRetryAttempts;
MaximumRecordAgeInSeconds measured on the emulator clock; DestinationConfig.OnFailure to
SQS, SNS or S3. Retries back off exponentially in wall time (0.1 s doubling, at most 2 s).
Not emulated: MaximumBatchingWindowInSeconds (treated as 0: a batch is whatever is there,
up to BatchSize), ParallelizationFactor (one batch per shard at a time, as with 1),
TumblingWindowInSeconds, FilterCriteria, payload-size limits, and parent-before-child
order after a reshard.

An idle shard is polled once a second, as AWS does; a PutRecord(s) to a mapped stream wakes
its pollers at once (`moto_patches.kinesis`), so new records are not left waiting.

Under IAM enforcement a mapping reads its stream and sends to its on-failure destination as
the function's execution role, as Lambda does: a role without the stream's read grants gets
nothing delivered (the refusals are in the IAM usage report).

`drain(timeout)` waits until every mapping has read its streams up to their latest record
with nothing left to retry; `stats()` counts invocations, records and failures per mapping.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from pablo.local import iam, moto_patches, service_metrics
from pablo.local.context import EmulatorContext
from pablo.local.esm_batches import (
    RECORD_AGE_EXCEEDED,
    RETRY_EXHAUSTED,
    Batch,
    FailureContext,
    RetryPolicy,
    StreamRecord,
    failure_record,
    first_failed_index,
    kinesis_event,
    plan_after_failure,
    split_expired,
)

log = logging.getLogger(__name__)

RETRY_BACKOFF_START: Final = 0.1
RETRY_BACKOFF_MAX: Final = 2.0
INVOCATION_LOG_SIZE: Final = 10_000
SHARD_REFRESH_PASSES: Final = 25  # re-list a stream's shards every so many polling passes


@dataclass
class ShardState:
    shard_id: str
    iterator: str | None = None
    pending: deque[Batch] = field(default_factory=deque)
    not_before: float = 0.0  # monotonic time before which the pending batch is not retried


@dataclass
class MappingStats:
    invocations: int = 0
    records_invoked: int = 0
    records_succeeded: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    batches_discarded: int = 0
    records_discarded: int = 0
    largest_batch: int = 0
    last_error: str | None = None
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=INVOCATION_LOG_SIZE))


class KinesisEventSourcePoller:
    """The emulator extension; loaded as `pablo.local.esm:KinesisEventSourcePoller`."""

    name = "kinesis-esm"

    # A poller with nothing to read sleeps `idle_seconds` (AWS polls a shard about once a
    # second), unless a put to its stream wakes it first (moto_patches.kinesis).
    def __init__(self, *, refresh_seconds: float = 2.0, idle_seconds: float = 1.0) -> None:
        self._refresh_seconds = refresh_seconds
        self._idle_seconds = idle_seconds
        self._ctx: EmulatorContext | None = None
        self._clients: dict[str, Any] = {}
        self._pollers: dict[str, MappingPoller] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._manager: threading.Thread | None = None

    # -- Extension protocol ---------------------------------------------------------------

    def start(self, ctx: EmulatorContext) -> None:
        self._ctx = ctx
        # Clients are made here, on one thread: creating boto3 clients concurrently from
        # the default session is not thread-safe; using them concurrently is.
        self._clients = {s: ctx.client(s) for s in ("lambda", "kinesis", "sqs", "sns", "s3")}
        moto_patches.apply(moto_patches.awslambda.NO_PER_RECORD_KINESIS_DELIVERY)
        moto_patches.apply(moto_patches.kinesis.WAKE_POLLERS_ON_PUT, wake=self._wake_stream)
        self._stop.clear()
        self._manager = threading.Thread(target=self._manage, name="esm-manager", daemon=True)
        self._manager.start()

    def stop(self) -> None:
        self._stop.set()
        if self._manager is not None:
            self._manager.join(timeout=10)
            self._manager = None
        with self._lock:
            pollers, self._pollers = list(self._pollers.values()), {}
        # Every poller told first, then joined: they wind down together, not one by one.
        for poller in pollers:
            poller.request_stop()
        for poller in pollers:
            poller.stop()
        moto_patches.restore(moto_patches.kinesis.WAKE_POLLERS_ON_PUT)
        moto_patches.restore(moto_patches.awslambda.NO_PER_RECORD_KINESIS_DELIVERY)

    def on_clock_advance(self, old: datetime, new: datetime) -> list[dict[str, Any]]:
        """Nothing fires on a tick; records that aged past their limit expire when read."""
        for poller in self._current_pollers():
            poller.wake()
        return []

    # -- control hooks --------------------------------------------------------------------

    def refresh(self) -> None:
        """Start pollers for new enabled Kinesis mappings; stop those gone or disabled."""
        assert self._ctx is not None
        wanted = {m["UUID"]: m for m in self._kinesis_mappings() if m.get("State") == "Enabled"}
        with self._lock:
            carried: dict[str, MappingPoller] = {}
            for mapping_id in list(self._pollers):
                poller = self._pollers[mapping_id]
                if mapping_id in wanted and _settings(poller.config) == _settings(
                    wanted[mapping_id]
                ):
                    continue
                poller.stop()
                del self._pollers[mapping_id]
                if mapping_id in wanted:  # updated: keep its place in the shards, as AWS does
                    carried[mapping_id] = poller
            for mapping_id, mapping in wanted.items():
                if mapping_id not in self._pollers:
                    poller = MappingPoller(
                        mapping,
                        self._ctx,
                        self._mapping_clients(mapping),
                        self._idle_seconds,
                        previous=carried.get(mapping_id),
                    )
                    self._pollers[mapping_id] = poller
                    poller.start()

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every mapping has processed its streams up to their latest record.

        True when all pollers completed a pass that started after this call and found
        nothing to read or retry; False on timeout (e.g. a shard blocked by retries).
        """
        self.refresh()
        deadline = time.monotonic() + timeout
        marks = {poller: poller.begin_wait() for poller in self._current_pollers()}
        for poller, mark in marks.items():
            if not poller.wait_idle_after(mark, deadline - time.monotonic()):
                return False
        return True

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per mapping UUID: function, stream, invocation and record counters."""
        return {p.mapping_id: p.summary() for p in self._current_pollers()}

    def invocations(self, mapping_id: str) -> list[dict[str, Any]]:
        """The most recent invocations of a mapping: shard, sequence numbers, outcome."""
        with self._lock:
            poller = self._pollers.get(mapping_id)
        return poller.invocation_log() if poller else []

    # -- internals ------------------------------------------------------------------------

    def _wake_stream(self, stream_arn: str) -> None:
        for poller in self._current_pollers():
            if poller.stream_arn == stream_arn:
                poller.wake()

    def _current_pollers(self) -> list[MappingPoller]:
        with self._lock:
            return list(self._pollers.values())

    def _mapping_clients(self, mapping: dict[str, Any]) -> dict[str, Any]:
        """The clients a mapping works with. Under IAM enforcement it reads the stream and
        sends to its on-failure destination as the function's execution role, as Lambda's
        event source mapping does (the role needs kinesis:GetRecords, GetShardIterator,
        ListShards, DescribeStream, and the destination's send action); invoking the
        function is the service's own."""
        if not iam.enforcing():
            return self._clients
        assert self._ctx is not None
        role = self._clients["lambda"].get_function_configuration(
            FunctionName=mapping["FunctionArn"]
        )["Role"]
        acting = {
            service: iam.role_client(
                service,
                self._ctx.region,
                role,
                principal=iam.LAMBDA_PRINCIPAL,
                endpoint=self._ctx.client_endpoint,
            )
            for service in ("kinesis", "sqs", "sns", "s3")
        }
        return {**self._clients, **acting}

    def _kinesis_mappings(self) -> list[dict[str, Any]]:
        mappings: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self._clients["lambda"].list_event_source_mappings(**kwargs)
            mappings.extend(
                m for m in page.get("EventSourceMappings", []) if ":kinesis:" in m["EventSourceArn"]
            )
            marker = page.get("NextMarker")
            if not marker:
                return mappings
            kwargs["Marker"] = marker

    def _manage(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:
                log.exception("could not refresh the Kinesis event source mappings")
            self._stop.wait(self._refresh_seconds)


def _settings(mapping: dict[str, Any]) -> dict[str, Any]:
    """A mapping's configuration without its bookkeeping fields."""
    return {
        k: v
        for k, v in mapping.items()
        if k not in {"LastModified", "LastProcessingResult", "StateTransitionReason"}
    }


class MappingPoller:
    """One mapping: reads its stream's shards in order and invokes the function."""

    def __init__(
        self,
        mapping: dict[str, Any],
        ctx: EmulatorContext,
        clients: dict[str, Any],
        idle_seconds: float,
        *,
        previous: MappingPoller | None = None,
    ) -> None:
        self.config = mapping
        self.mapping_id: str = mapping["UUID"]
        self.function_arn: str = mapping["FunctionArn"]
        self.stream_arn: str = mapping["EventSourceArn"]
        self.batch_size = int(mapping.get("BatchSize") or 100)
        self.policy = RetryPolicy.from_mapping(mapping)
        self.on_failure: str | None = (
            (mapping.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
        )
        self._ctx = ctx
        self._clients = clients
        self._idle_seconds = idle_seconds
        self._shards: dict[str, ShardState] = previous._shards if previous else {}
        self._identity_arn = ""
        self._stats: MappingStats = previous._stats if previous else MappingStats()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._condition = threading.Condition()
        self._pass = 0
        self._idle_pass = -1
        self._thread = threading.Thread(
            target=self._run, name=f"esm-{self.mapping_id[:8]}", daemon=True
        )

    # -- lifecycle and waiting ------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def stop(self) -> None:
        self.request_stop()
        self._thread.join(timeout=30)

    def wake(self) -> None:
        self._wake.set()

    def begin_wait(self) -> int:
        """The pass number a drain must see finish idle (the next one to start)."""
        with self._condition:
            self._wake.set()
            return self._pass + 1

    def wait_idle_after(self, mark: int, timeout: float) -> bool:
        with self._condition:
            return (
                self._condition.wait_for(
                    lambda: self._idle_pass >= mark or not self._thread.is_alive(),
                    timeout=max(0.0, timeout),
                )
                and self._idle_pass >= mark
            )

    def summary(self) -> dict[str, Any]:
        s = self._stats
        return {
            "function": self.function_arn,
            "stream": self.stream_arn,
            "batch_size": self.batch_size,
            "invocations": s.invocations,
            "records_invoked": s.records_invoked,
            "records_succeeded": s.records_succeeded,
            "function_errors": s.function_errors,
            "partial_failures": s.partial_failures,
            "batches_discarded": s.batches_discarded,
            "records_discarded": s.records_discarded,
            "largest_batch": s.largest_batch,
            "pending_batches": sum(len(shard.pending) for shard in list(self._shards.values())),
            "last_error": s.last_error,
        }

    def invocation_log(self) -> list[dict[str, Any]]:
        return list(self._stats.log)

    # -- the polling loop -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._identity_arn = self._function_role()
        except Exception:
            log.exception("mapping %s: cannot read function %s", self.mapping_id, self.function_arn)
        while not self._stop.is_set():
            with self._condition:
                self._pass += 1
                current = self._pass
            try:
                busy = self._poll_once(refresh_shards=current % SHARD_REFRESH_PASSES == 1)
            except Exception as exc:  # keep polling: the stream or function may come back
                log.exception("mapping %s: polling failed", self.mapping_id)
                self._stats.last_error = f"{type(exc).__name__}: {exc}"
                busy = True
                self._stop.wait(RETRY_BACKOFF_MAX)
            if not busy:
                with self._condition:
                    self._idle_pass = current
                    self._condition.notify_all()
                self._wake.wait(self._idle_seconds)
                self._wake.clear()
        with self._condition:
            self._condition.notify_all()

    def _poll_once(self, *, refresh_shards: bool) -> bool:
        """One pass over the shards; True if anything was read, invoked or is waiting."""
        if refresh_shards or not self._shards:
            self._refresh_shards()
        busy = False
        waiting = False
        for shard in list(self._shards.values()):
            if self._stop.is_set():
                return True
            if shard.pending:
                if time.monotonic() < shard.not_before:
                    waiting = True
                    continue
                self._process(shard, shard.pending.popleft())
                busy = True
                continue
            records = self._read(shard)
            if records:
                self._process(shard, Batch(tuple(records)))
                busy = True
        if waiting and not busy:  # a retry is due soon: not idle, so a drain keeps waiting
            due = min(s.not_before for s in self._shards.values() if s.pending)
            self._stop.wait(min(max(due - time.monotonic(), 0.0), self._idle_seconds))
        return busy or waiting

    def _refresh_shards(self) -> None:
        kinesis = self._clients["kinesis"]
        kwargs: dict[str, Any] = {"StreamARN": self.stream_arn}
        while True:
            page = kinesis.list_shards(**kwargs)
            for shard in page.get("Shards", []):
                self._shards.setdefault(shard["ShardId"], ShardState(shard["ShardId"]))
            token = page.get("NextToken")
            if not token:
                return
            kwargs = {"NextToken": token}

    def _read(self, shard: ShardState) -> list[StreamRecord]:
        kinesis = self._clients["kinesis"]
        if shard.iterator is None:
            shard.iterator = self._first_iterator(shard.shard_id)
        page = kinesis.get_records(
            ShardIterator=shard.iterator, Limit=self.batch_size, StreamARN=self.stream_arn
        )
        shard.iterator = page.get("NextShardIterator") or shard.iterator
        records = [
            StreamRecord(
                sequence_number=r["SequenceNumber"],
                partition_key=r["PartitionKey"],
                data=r["Data"],
                arrival=_utc(r["ApproximateArrivalTimestamp"]),
            )
            for r in page.get("Records", [])
        ]
        if records:
            service_metrics.iterator_age(
                self.stream_arn,
                newest_read=records[-1].arrival,
                now=self._ctx.clock.now(),
                region=self._ctx.region,
            )
        return records

    def _first_iterator(self, shard_id: str) -> str:
        position = self.config.get("StartingPosition") or "TRIM_HORIZON"
        kwargs: dict[str, Any] = {
            "StreamARN": self.stream_arn,
            "ShardId": shard_id,
            "ShardIteratorType": position,
        }
        if position == "AT_TIMESTAMP":
            kwargs["Timestamp"] = self.config["StartingPositionTimestamp"]
        return str(self._clients["kinesis"].get_shard_iterator(**kwargs)["ShardIterator"])

    # -- one batch ------------------------------------------------------------------------

    def _process(self, shard: ShardState, batch: Batch) -> None:
        expired, fresh = split_expired(
            batch.records, now=self._ctx.clock.now(), max_age=self.policy.max_age
        )
        if expired:
            self._discard(shard, replace(batch, records=expired), RECORD_AGE_EXCEEDED, None, "")
        if not fresh:
            return
        batch = replace(batch, records=fresh, invocations=batch.invocations + 1)
        function_error, payload, request_id = self._invoke(shard, batch)
        failed_at = first_failed_index(
            batch.records,
            function_error=function_error is not None,
            payload=payload,
            report_item_failures=self.policy.report_item_failures,
        )
        self._record(shard, batch, function_error, failed_at)
        if failed_at is None:
            self._stats.records_succeeded += len(batch.records)
            return
        plan = plan_after_failure(batch, failed_at, self.policy)
        self._stats.records_succeeded += len(plan.done)
        if plan.discard is not None:
            self._discard(shard, plan.discard, RETRY_EXHAUSTED, function_error, request_id)
        for retry in reversed(plan.retry):
            shard.pending.appendleft(retry)
        if plan.retry:
            attempts = max(b.attempts for b in plan.retry)
            shard.not_before = time.monotonic() + _backoff(attempts)

    def _invoke(self, shard: ShardState, batch: Batch) -> tuple[str | None, bytes | None, str]:
        event = kinesis_event(
            batch.records,
            shard_id=shard.shard_id,
            stream_arn=self.stream_arn,
            region=self._ctx.region,
            invoke_identity_arn=self._identity_arn,
        )
        try:
            response = self._clients["lambda"].invoke(
                FunctionName=self.function_arn,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
        except Exception as exc:  # the service failed the call: the batch failed as a whole
            self._stats.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("mapping %s: invoke failed: %s", self.mapping_id, exc)
            return "ServiceException", None, str(uuid.uuid4())
        payload = response["Payload"].read()
        request_id = response.get("ResponseMetadata", {}).get("RequestId") or str(uuid.uuid4())
        return response.get("FunctionError"), payload, request_id

    def _record(
        self, shard: ShardState, batch: Batch, function_error: str | None, failed_at: int | None
    ) -> None:
        stats = self._stats
        stats.invocations += 1
        stats.records_invoked += len(batch.records)
        stats.largest_batch = max(stats.largest_batch, len(batch.records))
        if function_error is not None:
            stats.function_errors += 1
        elif failed_at is not None:
            stats.partial_failures += 1
        outcome = "ok" if failed_at is None else ("error" if function_error else "partial")
        stats.log.append(
            {
                "shard": shard.shard_id,
                "sequence_numbers": [r.sequence_number for r in batch.records],
                "attempt": batch.attempts,
                "outcome": outcome,
                "failed_from": None
                if failed_at is None
                else batch.records[failed_at].sequence_number,
            }
        )

    def _discard(
        self,
        shard: ShardState,
        batch: Batch,
        condition: str,
        function_error: str | None,
        request_id: str,
    ) -> None:
        self._stats.batches_discarded += 1
        self._stats.records_discarded += len(batch.records)
        first, last = batch.records[0].sequence_number, batch.records[-1].sequence_number
        log.warning(
            "mapping %s: %s, discarding %s records %s..%s of %s",
            self.mapping_id,
            condition,
            len(batch.records),
            first,
            last,
            shard.shard_id,
        )
        if not self.on_failure:
            return
        context = FailureContext(
            request_id=request_id or str(uuid.uuid4()),
            function_arn=self.function_arn,
            condition=condition,
            function_error=function_error,
        )
        record = failure_record(
            batch,
            context,
            shard_id=shard.shard_id,
            stream_arn=self.stream_arn,
            now=self._ctx.clock.now(),
        )
        try:
            self._send_failure(record, shard.shard_id)
        except Exception:
            log.exception(
                "mapping %s: on-failure destination %s failed", self.mapping_id, self.on_failure
            )

    def _send_failure(self, record: dict[str, Any], shard_id: str) -> None:
        destination = self.on_failure or ""
        service = destination.split(":")[2]
        body = json.dumps(record)
        if service == "sqs":
            _, _, _, _, account, queue = destination.split(":", 5)
            url = self._clients["sqs"].get_queue_url(
                QueueName=queue, QueueOwnerAWSAccountId=account
            )["QueueUrl"]
            self._clients["sqs"].send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            self._clients["sns"].publish(TopicArn=destination, Message=body)
        elif service == "s3":
            bucket = destination.split(":::", 1)[1]
            now = self._ctx.clock.now().astimezone(UTC)
            key = (
                f"aws/lambda/{self.mapping_id}/{shard_id}/{now:%Y/%m/%d}/"
                f"{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
            )
            self._clients["s3"].put_object(Bucket=bucket, Key=key, Body=body.encode())
        else:
            raise ValueError(f"unsupported on-failure destination {destination}")

    def _function_role(self) -> str:
        config = self._clients["lambda"].get_function_configuration(FunctionName=self.function_arn)
        return str(config.get("Role", ""))


def _backoff(attempts: int) -> float:
    return float(min(RETRY_BACKOFF_START * 2 ** max(attempts - 1, 0), RETRY_BACKOFF_MAX))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
