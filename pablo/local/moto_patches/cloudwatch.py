"""CloudWatch: metric timestamps from the emulator clock, and DescribeAlarmHistory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import moto.cloudwatch.models as cloudwatch_models
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from pablo.local.clock import Clock
from pablo.local.moto_patches.registry import Patch, Replacement


def _metrics_clock(clock: Clock) -> list[Replacement]:
    """moto stamps metric data sent without a Timestamp with the emulator clock.

    Why: no API sets it: CloudWatch stamps such data on arrival, and moto uses the wall
    clock, so metrics the deployed functions (and moto's own Kinesis metrics) emit would
    fall outside the simulated periods the alarms evaluate.
    """

    def emulator_utcnow() -> datetime:
        return clock.now().astimezone(UTC).replace(tzinfo=None)  # moto keeps naive UTC

    return [Replacement(cloudwatch_models, "utcnow", emulator_utcnow)]


METRICS_CLOCK = Patch("cloudwatch-metric-times-from-clock", "cloudwatch", _metrics_clock)


def _alarm_history(state_updates: Callable[[Any], list[dict[str, Any]]]) -> list[Replacement]:
    """moto's CloudWatch answers DescribeAlarmHistory with each alarm's `state_updates`.

    Why: moto has no DescribeAlarmHistory; `pablo oncall` and the demo read when each alarm
    changed state (pablo.local.alarms keeps the records).
    """

    def describe_alarm_history(self: Any) -> ActionResult:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        alarms = self.cloudwatch_backend.describe_alarms()
        items: list[dict[str, Any]] = []
        if kind in (None, "StateUpdate"):
            for alarm in alarms:
                if name is None or alarm.name == name:
                    items.extend(state_updates(alarm))
        items.sort(key=lambda item: item["Timestamp"], reverse=True)
        return ActionResult({"AlarmHistoryItems": items})

    return [Replacement(CloudWatchResponse, "describe_alarm_history", describe_alarm_history)]


ALARM_HISTORY = Patch("cloudwatch-describe-alarm-history", "cloudwatch", _alarm_history)
