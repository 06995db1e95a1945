"""CloudWatch metric alarms that really evaluate, in the emulator.

moto stores metrics and alarms but never evaluates an alarm, and `set_alarm_state` fires
no action. On every clock advance this extension evaluates each metric alarm at every
period boundary in (old, new] on the emulator clock, through the CloudWatch API only:
`describe_alarms`, `get_metric_data` for the datapoints, `set_alarm_state` on a change,
and `sns.publish` of AWS's notification to the actions of the new state.

The decision itself is pure (`pablo.local.alarm_eval`). Not evaluated, each listed once in
the log with the reason: metric-math alarms (`Metrics`), percentile alarms
(`ExtendedStatistic`: moto's GetMetricData computes no percentiles) and anomaly-detection
alarms (band operators). Alarm actions other than SNS topics (Auto Scaling, EC2, Systems
Manager) are logged and skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import moto.cloudwatch.models as cloudwatch_models

from pablo.local.alarm_eval import (
    BAND_OPERATORS,
    INSUFFICIENT_DATA,
    MISSING,
    AlarmRule,
    Datapoint,
    Evaluation,
    evaluate,
    evaluation_range,
    format_aws_time,
    period_boundaries,
    window_starts,
)
from pablo.local.context import LOCAL_ACCOUNT, EmulatorContext

log = logging.getLogger(__name__)

# moto creates alarms in OK with this reason; AWS creates them in INSUFFICIENT_DATA.
MOTO_INITIAL_REASON: Final = "Unchecked: Initial alarm creation"
SIMPLE_STATISTICS: Final = frozenset({"SampleCount", "Average", "Sum", "Minimum", "Maximum"})
# One GetMetricData call covers at most this many periods (moto scans per period).
PERIODS_PER_QUERY: Final = 1440
ACTIONS_BY_STATE: Final = {
    "ALARM": "AlarmActions",
    "OK": "OKActions",
    "INSUFFICIENT_DATA": "InsufficientDataActions",
}
REGION_NAMES: Final = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}
SUBJECT_LIMIT: Final = 100  # SNS refuses longer subjects


@dataclass(frozen=True)
class Transition:
    alarm: dict[str, Any]
    old_state: str
    evaluation: Evaluation
    at: datetime


class AlarmEvaluator:
    """The emulator extension; loaded as `pablo.local.alarms:AlarmEvaluator`."""

    name = "alarms"

    def __init__(self) -> None:
        self._ctx: EmulatorContext | None = None
        self._evaluated_until: datetime | None = None
        self._reported_skips: set[str] = set()
        self._restore_clock: Callable[[], None] | None = None

    def start(self, ctx: EmulatorContext) -> None:
        self._ctx = ctx
        self._evaluated_until = ctx.clock.now()
        self._restore_clock = stamp_metrics_with_emulator_clock(ctx)

    def stop(self) -> None:
        if self._restore_clock is not None:
            self._restore_clock()
            self._restore_clock = None
        self._ctx = None

    def on_clock_advance(self, old: datetime, new: datetime) -> list[dict[str, Any]]:
        """Evaluate every metric alarm at each period boundary in (old, new]."""
        if self._ctx is None:
            return []
        if self._evaluated_until is not None:
            old = max(old, self._evaluated_until)
        if new <= old:
            return []
        transitions: list[Transition] = []
        for alarm in self._metric_alarms():
            rule = self._rule_or_skip(alarm)
            if rule is not None:
                transitions.extend(self._transitions(alarm, rule, old, new))
        transitions.sort(key=lambda t: (t.at, t.alarm["AlarmName"]))
        events = [self._apply(transition) for transition in transitions]
        self._evaluated_until = new
        return events

    # -- reading --------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        assert self._ctx is not None
        return self._ctx.client(service)

    def _metric_alarms(self) -> list[dict[str, Any]]:
        paginator = self._client("cloudwatch").get_paginator("describe_alarms")
        alarms: list[dict[str, Any]] = []
        for page in paginator.paginate(AlarmTypes=["MetricAlarm"]):
            alarms.extend(page.get("MetricAlarms", []))
        return alarms

    def _rule_or_skip(self, alarm: dict[str, Any]) -> AlarmRule | None:
        skip = _skip_reason(alarm)
        if skip is None:
            try:
                return rule_from_alarm(alarm)
            except ValueError as exc:
                skip = str(exc)
        name = alarm["AlarmName"]
        if name not in self._reported_skips:
            self._reported_skips.add(name)
            log.warning("alarm %s is not evaluated by the emulator: %s", name, skip)
        return None

    def _transitions(
        self, alarm: dict[str, Any], rule: AlarmRule, old: datetime, new: datetime
    ) -> list[Transition]:
        boundaries = period_boundaries(old, new, rule.period)
        if not boundaries:
            return []
        span = timedelta(seconds=rule.period * evaluation_range(rule.evaluation_periods))
        series = self._series(alarm, rule, boundaries[0] - span, boundaries[-1])
        state = current_state(alarm)
        found: list[Transition] = []
        for boundary in boundaries:
            window = [
                Datapoint(start, series.get(int(start.timestamp())))
                for start in window_starts(boundary, rule)
            ]
            result = evaluate(rule, window, state, query_date=boundary)
            if result.reason is not None and result.state != state:
                found.append(Transition(alarm, state, result, boundary))
                state = result.state
        return found

    def _series(
        self, alarm: dict[str, Any], rule: AlarmRule, start: datetime, end: datetime
    ) -> dict[int, float]:
        """The alarm's statistic per period start (epoch seconds) in [start, end)."""
        metric_stat: dict[str, Any] = {
            "Metric": {
                "Namespace": alarm["Namespace"],
                "MetricName": alarm["MetricName"],
                "Dimensions": alarm.get("Dimensions", []),
            },
            "Period": rule.period,
            "Stat": rule.statistic,
        }
        if alarm.get("Unit"):
            metric_stat["Unit"] = alarm["Unit"]
        query = [{"Id": "m", "MetricStat": metric_stat, "ReturnData": True}]
        chunk = timedelta(seconds=rule.period * PERIODS_PER_QUERY)
        series: dict[int, float] = {}
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(chunk_start + chunk, end)
            series.update(self._query(query, chunk_start, chunk_end))
            chunk_start = chunk_end
        return series

    def _query(
        self, query: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[int, float]:
        found: dict[int, float] = {}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": query,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            response = self._client("cloudwatch").get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                for stamp, value in zip(result["Timestamps"], result["Values"], strict=True):
                    # moto keeps naive UTC and boto3 reads it as local time: the digits are UTC
                    found[int(stamp.replace(tzinfo=UTC).timestamp())] = float(value)
            token = response.get("NextToken")
            if not token:
                return found
            kwargs["NextToken"] = token

    # -- acting ---------------------------------------------------------------------------

    def _apply(self, transition: Transition) -> dict[str, Any]:
        alarm, result = transition.alarm, transition.evaluation
        assert result.reason is not None
        self._client("cloudwatch").set_alarm_state(
            AlarmName=alarm["AlarmName"],
            StateValue=result.state,
            StateReason=result.reason,
            StateReasonData=json.dumps(result.reason_data),
        )
        notified: list[str] = []
        if alarm.get("ActionsEnabled", True):
            notified = self._notify(transition)
        log.info(
            "alarm %s: %s -> %s at %s",
            alarm["AlarmName"],
            transition.old_state,
            result.state,
            transition.at.isoformat(),
        )
        return {
            "type": "alarm",
            "alarm": alarm["AlarmName"],
            "time": transition.at.isoformat(),
            "old_state": transition.old_state,
            "new_state": result.state,
            "reason": result.reason,
            "notified": notified,
        }

    def _notify(self, transition: Transition) -> list[str]:
        assert self._ctx is not None
        alarm, state = transition.alarm, transition.evaluation.state
        message = notification(transition, region=self._ctx.region)
        subject = alarm_subject(alarm["AlarmName"], state, self._ctx.region)
        notified: list[str] = []
        for action in alarm.get(ACTIONS_BY_STATE[state], []):
            if ":sns:" not in action:
                log.warning(
                    "alarm %s: action %s is not an SNS topic; skipped", alarm["AlarmName"], action
                )
                continue
            self._client("sns").publish(
                TopicArn=action, Subject=subject, Message=json.dumps(message)
            )
            notified.append(action)
        return notified


def stamp_metrics_with_emulator_clock(ctx: EmulatorContext) -> Callable[[], None]:
    """Make moto stamp metric data sent without a Timestamp with the emulator clock.

    Patched in-process because no API sets it: CloudWatch stamps such data on arrival, and
    moto uses the wall clock, so metrics the deployed functions (and moto's own Kinesis
    metrics) emit would fall outside the simulated periods the alarms evaluate. Returns the
    function that restores moto.
    """
    original = cloudwatch_models.utcnow

    def emulator_utcnow() -> datetime:
        return ctx.clock.now().astimezone(UTC).replace(tzinfo=None)  # moto keeps naive UTC

    cloudwatch_models.utcnow = emulator_utcnow

    def restore() -> None:
        cloudwatch_models.utcnow = original

    return restore


def _skip_reason(alarm: dict[str, Any]) -> str | None:
    if alarm.get("Metrics"):
        return "metric-math alarms (Metrics) are not evaluated"
    if alarm.get("ExtendedStatistic"):
        return "percentile statistics (ExtendedStatistic) are not computed by moto"
    if alarm.get("ComparisonOperator") in BAND_OPERATORS:
        return "anomaly-detection band operators are not evaluated"
    if alarm.get("Statistic") not in SIMPLE_STATISTICS:
        return f"statistic {alarm.get('Statistic')!r} is not supported"
    return None


def rule_from_alarm(alarm: dict[str, Any]) -> AlarmRule:
    """The evaluation rule of a `describe_alarms` MetricAlarm (ValueError if unusable)."""
    periods = int(alarm["EvaluationPeriods"])
    return AlarmRule(
        comparison=alarm["ComparisonOperator"],
        threshold=float(alarm["Threshold"]),
        period=int(alarm["Period"]),
        evaluation_periods=periods,
        datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or periods),
        treat_missing_data=alarm.get("TreatMissingData") or MISSING,
        statistic=alarm["Statistic"],
    )


def current_state(alarm: dict[str, Any]) -> str:
    """The alarm's state, reading moto's freshly created OK as AWS's INSUFFICIENT_DATA."""
    if alarm.get("StateReason") == MOTO_INITIAL_REASON:
        return INSUFFICIENT_DATA
    return str(alarm.get("StateValue") or INSUFFICIENT_DATA)


def region_name(region: str) -> str:
    return REGION_NAMES.get(region, region)


def alarm_subject(alarm_name: str, state: str, region: str) -> str:
    """`ALARM: "name" in US East (N. Virginia)`, cut to SNS's subject limit as AWS does."""
    return f'{state}: "{alarm_name}" in {region_name(region)}'[:SUBJECT_LIMIT]


def notification(transition: Transition, *, region: str) -> dict[str, Any]:
    """The JSON document CloudWatch publishes to an alarm's SNS actions."""
    alarm, result = transition.alarm, transition.evaluation
    updated = alarm.get("AlarmConfigurationUpdatedTimestamp")
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": alarm["AlarmArn"].split(":")[4] or LOCAL_ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": format_aws_time(updated) if updated else None,
        "NewStateValue": result.state,
        "NewStateReason": result.reason,
        "StateChangeTime": format_aws_time(transition.at),
        "Region": region_name(region),
        "AlarmArn": alarm["AlarmArn"],
        "OldStateValue": transition.old_state,
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": {
            "MetricName": alarm["MetricName"],
            "Namespace": alarm["Namespace"],
            "StatisticType": "Statistic",
            "Statistic": alarm["Statistic"].upper(),
            "Unit": alarm.get("Unit"),
            "Dimensions": [
                {"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])
            ],
            "Period": alarm["Period"],
            "EvaluationPeriods": alarm["EvaluationPeriods"],
            "DatapointsToAlarm": alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"],
            "ComparisonOperator": alarm["ComparisonOperator"],
            "Threshold": float(alarm["Threshold"]),
            "TreatMissingData": alarm.get("TreatMissingData") or MISSING,
            "EvaluateLowSampleCountPercentile": alarm.get("EvaluateLowSampleCountPercentile", ""),
        },
    }
