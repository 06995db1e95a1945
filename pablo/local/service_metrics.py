"""The metrics AWS publishes about its own services, where the emulator can produce them.

moto publishes none of the metrics the on-call alarms watch on the stack's resources
(its Kinesis publishes IncomingRecords/IncomingBytes only), so the emulator does, as AWS
would, stamped with the emulator clock:

- `AWS/Lambda` `Errors` (FunctionName): one datapoint per invocation that ended in a
  function error, init failure or timeout (`function_error`, called by the Lambda runtime);
- `AWS/Kinesis` `GetRecords.IteratorAgeMilliseconds` (StreamName): per GetRecords of the
  emulator's event source mapping poller that returned records, the age of the last one
  (`iterator_age`, called by pablo.local.esm);
- `AWS/States` `ExecutionsFailed` / `ExecutionsTimedOut` (StateMachineArn): on each clock
  advance, one datapoint per execution that ended so since the previous advance;
- `AWS/SQS` `ApproximateNumberOfMessagesVisible` (QueueName): on each clock advance, the
  depth of every queue that holds messages (an empty queue publishes nothing: the alarms
  on it treat missing data as not breaching, so the verdict is the same as AWS's zero).

Not produced, and said so per alarm in the fidelity report (pablo.local.fidelity, which
also keeps the list of what is produced): `AWS/Lambda` `Throttles` (the emulator runs
every invocation, it never throttles) and every other service metric.

The datapoints go straight into moto's CloudWatch backend in this process: an API call per
invocation would cost an HTTP round trip (or a serialisation) per Lambda run. This extension
must run before the alarm evaluator (EXTENSIONS order), so a tick's datapoints are
there when its alarms evaluate.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

import moto.cloudwatch.models as cloudwatch_models
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from pablo.local.context import EmulatorContext, emulator_account

log = logging.getLogger(__name__)

LAMBDA: Final = "AWS/Lambda"
KINESIS: Final = "AWS/Kinesis"
STATES: Final = "AWS/States"
SQS: Final = "AWS/SQS"
# Execution status -> the AWS/States metric counting executions that ended so.
EXECUTION_END_METRICS: Final = {
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
}


def put(
    namespace: str,
    metric: str,
    dimension: tuple[str, str],
    value: float,
    *,
    unit: str,
    at: datetime,
    region: str,
    account: str | None = None,
) -> None:
    """One datapoint into moto's CloudWatch, as the service itself would publish it (in the
    emulator's account unless `account`)."""
    backend = cloudwatch_models.cloudwatch_backends[account or emulator_account()][region]
    backend.put_metric_data(
        namespace=namespace,
        metric_data=[
            {
                "MetricName": metric,
                "Value": value,
                "Unit": unit,
                "Timestamp": at.astimezone(UTC).replace(tzinfo=None),  # moto keeps naive UTC
                "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}],
            }
        ],
    )


def function_error(function_name: str, *, at: datetime, region: str, account: str) -> None:
    put(
        LAMBDA,
        "Errors",
        ("FunctionName", function_name),
        1,
        unit="Count",
        at=at,
        region=region,
        account=account,
    )


def iterator_age(stream_arn: str, *, newest_read: datetime, now: datetime, region: str) -> None:
    """The age of the last record a GetRecords returned (how far behind the reader is)."""
    age_ms = max(0.0, (now - newest_read).total_seconds() * 1000)
    put(
        KINESIS,
        "GetRecords.IteratorAgeMilliseconds",
        ("StreamName", stream_arn.rsplit("/", 1)[-1]),
        age_ms,
        unit="Milliseconds",
        at=now,
        region=region,
        account=stream_arn.split(":")[4] or emulator_account(),
    )


class ServiceMetrics:
    """The emulator extension; loaded as `pablo.local.service_metrics:ServiceMetrics`."""

    name = "service-metrics"

    def __init__(self) -> None:
        self._ctx: EmulatorContext | None = None
        self._ended: set[str] = set()  # executions already counted

    def start(self, ctx: EmulatorContext) -> None:
        self._ctx = ctx

    def stop(self) -> None:
        self._ctx = None

    def on_clock_advance(self, old: datetime, new: datetime) -> list[dict[str, Any]] | None:
        """What happened while the clock stood at `old` is published at `old`: the alarms
        then evaluate it at the period boundaries in (old, new]."""
        if self._ctx is None:
            return None
        self._executions_ended(old)
        self._queue_depths(old)
        return None

    def _executions_ended(self, at: datetime) -> None:
        assert self._ctx is not None
        for account, regions in list(stepfunctions_parser_backends.items()):
            backend = regions.get(self._ctx.region) if hasattr(regions, "get") else None
            if backend is None:
                continue
            for machine in list(backend.state_machines):
                for execution in list(machine.executions):
                    status = str(getattr(execution.status, "value", execution.status))
                    metric = EXECUTION_END_METRICS.get(status)
                    if metric is None or execution.execution_arn in self._ended:
                        continue
                    self._ended.add(execution.execution_arn)
                    put(
                        STATES,
                        metric,
                        ("StateMachineArn", machine.arn),
                        1,
                        unit="Count",
                        at=at,
                        region=self._ctx.region,
                        account=account,
                    )

    def _queue_depths(self, at: datetime) -> None:
        assert self._ctx is not None
        for account, regions in list(sqs_backends.items()):
            backend = regions.get(self._ctx.region) if hasattr(regions, "get") else None
            if backend is None:
                continue
            for name, queue in list(backend.queues.items()):
                depth = queue.approximate_number_of_messages
                if depth:
                    put(
                        SQS,
                        "ApproximateNumberOfMessagesVisible",
                        ("QueueName", name),
                        float(depth),
                        unit="Count",
                        at=at,
                        region=self._ctx.region,
                        account=account,
                    )
