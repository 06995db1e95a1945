"""CloudWatch metrics through PutMetricData (client passed in).

Why not Powertools Metrics (Embedded Metric Format)? EMF turns log lines into metrics only
in real CloudWatch Logs; the local emulator stores log lines but makes no metrics of them,
so its alarm evaluator would never see a datapoint. PutMetricData behaves the same in AWS
and in the emulator, at the cost of one API call per invocation (landing events are a few
files a day, so the cost does not matter here).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.core.errors import TransientError


def put_count(
    cloudwatch: Any,
    *,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str],
    at: datetime,
    count: int = 1,
) -> None:
    """Add `count` to `metric` with `dimensions` at time `at` (the event's time)."""
    try:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Timestamp": at,
                    "Value": float(count),
                    "Unit": "Count",
                }
            ],
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"Throttling", "ThrottlingException", "InternalServiceError"}:
            raise TransientError(f"PutMetricData {metric}: {code}") from exc
        raise
