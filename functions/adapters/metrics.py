"""CloudWatch: the one metric publisher (PutMetricData) and alarm actions (client passed in).

Why not Powertools Metrics (Embedded Metric Format)? EMF turns log lines into metrics only
in real CloudWatch Logs; the local emulator stores log lines but makes no metrics of them,
so its alarm evaluator would never see a datapoint. PutMetricData behaves the same in AWS
and in the emulator, at the cost of one API call per invocation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws_errors import classified

MAX_METRIC_DATA: Final = 1000  # PutMetricData's limit per call
COUNT: Final = "Count"


@dataclass(frozen=True)
class Datapoint:
    metric: str
    value: float
    unit: str = COUNT
    dimensions: Mapping[str, str] = field(default_factory=dict)


def put_metrics(
    cloudwatch: Any, *, namespace: str, at: datetime, datapoints: Sequence[Datapoint]
) -> None:
    """PutMetricData of the datapoints, timestamped `at` (the run's or the event's time)."""
    data = [
        {
            "MetricName": point.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in point.dimensions.items()],
            "Timestamp": at,
            "Value": float(point.value),
            "Unit": point.unit,
        }
        for point in datapoints
    ]
    for start in range(0, len(data), MAX_METRIC_DATA):
        try:
            cloudwatch.put_metric_data(
                Namespace=namespace, MetricData=data[start : start + MAX_METRIC_DATA]
            )
        except (ClientError, BotoCoreError) as exc:
            raise classified(exc, "PutMetricData") from exc


def put_count(
    cloudwatch: Any,
    *,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str],
    at: datetime,
    count: int = 1,
) -> None:
    """Add `count` to `metric` with `dimensions` at time `at`."""
    put_metrics(
        cloudwatch,
        namespace=namespace,
        at=at,
        datapoints=[Datapoint(metric, count, COUNT, dimensions)],
    )


def set_alarm_actions(cloudwatch: Any, *, alarm: str, enabled: bool) -> None:
    """Mute (DisableAlarmActions) or unmute (EnableAlarmActions) one alarm."""
    try:
        if enabled:
            cloudwatch.enable_alarm_actions(AlarmNames=[alarm])
        else:
            cloudwatch.disable_alarm_actions(AlarmNames=[alarm])
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"set the actions of {alarm}") from exc
