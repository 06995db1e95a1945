"""EventBridge rules deliver matching events to Lambda and Step Functions, in the emulator.

Two moto gaps, each patched by wrapping moto (`moto_patches.events`, `moto_patches.s3`):

1. `Rule.send_to_targets` delivers only to CloudWatch Logs, archives, SQS and event buses.
   Event-driven pipelines (the landing inventory, per-source loaders) need Lambda and Step
   Functions targets: this extension delivers to those, moto's code to the others.
2. S3 stamps its events with the wall clock; the pipelines record landings at simulated
   times, so S3 reads the emulator clock instead.

Delivery is asynchronous, as in AWS (EventBridge invokes Lambda with InvocationType
Event): matching happens on the request thread of the API call that produced the event
(e.g. S3 PutObject), and the invoke or start_execution runs on a small thread pool,
through the AWS API of the emulator itself (so moto's validation and the Lambda runtime
seam apply). Under IAM enforcement a delivery is authorised as AWS authorises it: a Lambda
target only if its resource-based policy lets events.amazonaws.com invoke it from the rule,
a Step Functions target as the target's role (`pablo.local.iam`); a refused delivery is
recorded as an `AccessDenied` error and logged. Running the function on the PutObject
request thread would hold the S3 response until the function ends: the uploader's SDK
would time out and retry the upload, producing duplicate events.

What a target receives: its Input, its InputPath of the event, its InputTransformer
applied to the event, or the event itself, with `time` formatted as AWS does
(`2026-09-02T10:00:00Z`). A Lambda function that fails is retried twice, as Lambda does for
asynchronous invokes (without the minutes of delay between attempts). Not emulated:
target RetryPolicy and dead-letter queues, Lambda on-failure destinations.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any, Final

import boto3
from botocore.config import Config

from pablo.local import iam, moto_patches
from pablo.local.context import LOCAL_CREDENTIALS, EmulatorContext
from pablo.local.schedules import aws_event_time, fill_template, json_path

LOG = logging.getLogger(__name__)

DELIVERED_SERVICES: Final = frozenset({"lambda", "states"})
LAMBDA_ASYNC_ATTEMPTS: Final = 3  # the first try plus Lambda's default 2 retries
DELIVERY_THREADS: Final = 4
# Longer than the longest Lambda timeout (15 minutes): the emulator answers an Event
# invoke only when the function has run.
INVOKE_READ_TIMEOUT_SECONDS: Final = 960
RECENT_DELIVERIES: Final = 200
# One attempt: an SDK retry of an invoke would run the function twice.
_ONE_ATTEMPT: Final = Config(
    read_timeout=INVOKE_READ_TIMEOUT_SECONDS, retries={"total_max_attempts": 1}
)


class EventTargetDelivery:
    """The emulator extension; loaded as `pablo.local.event_targets:EventTargetDelivery`.

    `deliveries()` lists recent deliveries (newest last); `drain(timeout)` waits until
    every delivery accepted so far has finished.
    """

    name = "event-targets"

    def __init__(self, *, threads: int = DELIVERY_THREADS) -> None:
        self._threads = threads
        self._ctx: EmulatorContext | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_DELIVERIES)
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}

    # -- Extension protocol -------------------------------------------------------------

    def start(self, ctx: EmulatorContext) -> None:
        self._ctx = ctx
        self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="event-targets")
        moto_patches.apply(
            moto_patches.events.RULE_TARGETS,
            delivered=lambda arn: _service(arn) in DELIVERED_SERVICES,
            submit=self._submit,
        )
        moto_patches.apply(moto_patches.s3.NOTIFICATION_CLOCK, clock=ctx.clock)
        moto_patches.apply(
            moto_patches.s3.LAMBDA_NOTIFICATIONS_PERMITTED, may_invoke=self._may_invoke_from_bucket
        )

    def stop(self) -> None:
        for patch in (
            moto_patches.s3.LAMBDA_NOTIFICATIONS_PERMITTED,
            moto_patches.s3.NOTIFICATION_CLOCK,
            moto_patches.events.RULE_TARGETS,
        ):
            moto_patches.restore(patch)
        if self._executor is not None:
            # Deliveries not started are dropped; those running end first.
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._ctx = None

    def on_clock_advance(self, old: datetime, new: datetime) -> list[dict[str, Any]] | None:
        """Events are delivered when they happen, not on clock ticks."""
        return None

    # -- observation --------------------------------------------------------------------

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._recent)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait for every delivery accepted so far; False if some are still running."""
        with self._lock:
            pending = set(self._pending)
        if not pending:
            return True
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    # -- moto_patches dependencies ---------------------------------------------------------

    def _may_invoke_from_bucket(self, function_arn: str, bucket_arn: str) -> bool:
        """Under IAM enforcement, whether the function's policy lets S3 invoke it for the
        bucket (a refusal is logged, and the notification dropped, as AWS drops it)."""
        if not iam.enforcing():
            return True
        assert self._ctx is not None, "the extension is not started"
        try:
            iam.check_invoke(
                self._ctx.client("lambda"),
                function_arn,
                principal=iam.S3_PRINCIPAL,
                source_arn=bucket_arn,
            )
        except iam.AccessDeniedError as exc:
            LOG.warning("S3 notification from %s refused: %s", bucket_arn, exc)
            return False
        return True

    # -- delivery -----------------------------------------------------------------------

    def _submit(self, rule: Any, targets: list[dict[str, Any]], moto_event: Any) -> None:
        executor = self._executor
        if executor is None:
            return
        event = aws_event(moto_event)
        for target in targets:
            try:
                payload = target_input(target, event, rule_arn=rule.arn, rule_name=rule.name)
            except Exception as exc:  # a bad template fails this target only
                self._record(rule.name, target, {"error": f"{type(exc).__name__}: {exc}"})
                continue
            future = executor.submit(self._deliver, rule.name, rule.arn, target, payload)
            with self._lock:
                self._pending.add(future)
            future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _deliver(self, rule_name: str, rule_arn: str, target: dict[str, Any], payload: str) -> None:
        try:
            if _service(target["Arn"]) == "lambda":
                outcome = self._invoke(target["Arn"], payload, rule_arn)
            else:
                outcome = self._start_execution(target, payload)
        except iam.AccessDeniedError as exc:  # AWS drops it too (to the rule's DLQ, if any)
            LOG.warning("rule %s -> %s refused: %s", rule_name, target["Arn"], exc)
            outcome = {"error": f"AccessDenied: {exc}"}
        except Exception as exc:  # one target's failure must not stop the others
            LOG.exception("rule %s -> %s failed", rule_name, target["Arn"])
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
        self._record(rule_name, target, outcome)

    def _invoke(self, arn: str, payload: str, rule_arn: str) -> dict[str, Any]:
        lambda_client = self._client("lambda", _region(arn))
        iam.check_invoke(lambda_client, arn, principal=iam.EVENTS_PRINCIPAL, source_arn=rule_arn)
        error = ""
        for attempt in range(1, LAMBDA_ASYNC_ATTEMPTS + 1):
            response = lambda_client.invoke(
                FunctionName=arn, InvocationType="Event", Payload=payload.encode()
            )
            if not response.get("FunctionError"):
                return {"result": "invoked", "attempts": attempt}
            error = response["Payload"].read().decode("utf-8", errors="replace")
            LOG.warning("async invoke of %s failed (attempt %d): %s", arn, attempt, error)
        return {"error": f"function error after {LAMBDA_ASYNC_ATTEMPTS} attempts: {error}"}

    def _start_execution(self, target: dict[str, Any], payload: str) -> dict[str, Any]:
        arn = target["Arn"]
        started = self._target_client(target, "stepfunctions").start_execution(
            stateMachineArn=arn, name=str(uuid.uuid4()), input=payload
        )
        return {"result": str(started["executionArn"])}

    def _record(self, rule_name: str, target: dict[str, Any], outcome: dict[str, Any]) -> None:
        entry = {"rule": rule_name, "target": target["Arn"], "target_id": target.get("Id")}
        with self._lock:
            self._recent.append({**entry, **outcome})

    def _target_client(self, target: dict[str, Any], service: str) -> Any:
        """Under enforcement, the target's role (a target other than Lambda needs one);
        otherwise the emulator's own client."""
        region = _region(target["Arn"])
        if not iam.enforcing():
            return self._client(service, region)
        if not target.get("RoleArn"):
            raise iam.AccessDeniedError(f"target {target['Arn']} has no RoleArn to deliver as")
        assert self._ctx is not None, "the extension is not started"
        return iam.role_client(
            service,
            region,
            target["RoleArn"],
            principal=iam.EVENTS_PRINCIPAL,
            endpoint=self._ctx.client_endpoint,
            config=_ONE_ATTEMPT,
        )

    def _client(self, service: str, region: str) -> Any:
        assert self._ctx is not None, "the extension is not started"
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = boto3.client(
                    service,
                    endpoint_url=self._ctx.client_endpoint,
                    region_name=region,
                    config=_ONE_ATTEMPT,
                    **LOCAL_CREDENTIALS,
                )
            return self._clients[key]


def aws_event(moto_event: Any) -> dict[str, Any]:
    """The event as AWS delivers it: `time` in ISO 8601 with Z, no moto-internal fields."""
    event: dict[str, Any] = copy.deepcopy(dict(moto_event))
    event.pop("ingestion-time", None)
    moment = event.get("time")
    if isinstance(moment, int | float):
        event["time"] = aws_event_time(datetime.fromtimestamp(float(moment), UTC))
    return event


def target_input(
    target: dict[str, Any], event: dict[str, Any], *, rule_arn: str, rule_name: str
) -> str:
    """What a rule target receives: Input, InputPath, InputTransformer, or the event."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return json.dumps(json_path(event, target["InputPath"]))
    transformer = target.get("InputTransformer")
    if transformer:
        values = {
            key: json_path(event, path)
            for key, path in transformer.get("InputPathsMap", {}).items()
        }
        values.update(
            {
                "aws.events.rule-arn": rule_arn,
                "aws.events.rule-name": rule_name,
                "aws.events.event.ingestion-time": event.get("time"),
                "aws.events.event.json": event,
            }
        )
        return fill_template(transformer["InputTemplate"], values)
    return json.dumps(event)


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""


def _region(arn: str) -> str:
    return arn.split(":")[3]
