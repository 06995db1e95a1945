"""CloudWatch metric alarms that really evaluate, in the emulator.

moto stores metrics and alarms but never evaluates an alarm, and `set_alarm_state` fires
no action. On every clock advance this extension evaluates each metric alarm at every
period boundary in (old, new] on the emulator clock. It reads the alarms and their
datapoints from moto's CloudWatch backend in this process (what DescribeAlarms and
GetMetricData return, without the HTTP round trips: over the API they cost ~30 ms of the
GIL-bound emulator at every clock step, mostly serialising), and acts through the API:
`set_alarm_state` on a change, and `sns.publish` of AWS's notification to the actions of
the new state.

Actions follow `ActionsEnabled` (so `DisableAlarmActions` / `EnableAlarmActions` mute and
unmute an alarm, as `pablo oncall ack` relies on), while every transition is also sent to
EventBridge as AWS's "CloudWatch Alarm State Change" event (source `aws.cloudwatch`), which
AWS emits whether or not actions are enabled: that is how a muted alarm's return to OK can
still reach a function.

moto records each alarm's earlier states but has no DescribeAlarmHistory; the extension adds
it (StateUpdate items, newest first, as AWS returns them), so tools can tell which alarms
fired during a run after the fact. A new state is dated at the period boundary where it was
decided (StateUpdatedTimestamp, history), as in AWS, not at the moment the tick reached it.

The decision itself is pure (`pablo.local.alarm_eval`). Not evaluated, each listed once in
the log with the reason: metric-math alarms (`Metrics`), percentile alarms
(`ExtendedStatistic`: moto's GetMetricData computes no percentiles) and anomaly-detection
alarms (band operators). Alarm actions other than SNS topics (Auto Scaling, EC2, Systems
Manager) are logged and skipped.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import moto.cloudwatch.models as cloudwatch_models

from pablo.local import moto_patches
from pablo.local.alarm_eval import (
    BAND_OPERATORS,
    INSUFFICIENT_DATA,
    MISSING,
    AlarmRule,
    Evaluation,
    evaluation_range,
    format_aws_time,
    period_boundaries,
    transitions,
)
from pablo.local.context import EmulatorContext, emulator_account

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
S3: Final = "AWS/S3"
STATE_CHANGE_SOURCE: Final = "aws.cloudwatch"
STATE_CHANGE_DETAIL_TYPE: Final = "CloudWatch Alarm State Change"


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
        # (namespace, metric name) of every datapoint stored, taken once per tick: an alarm
        # whose metric has none is evaluated on an empty series without querying moto,
        # whose every query scans all stored datapoints.
        self._published: frozenset[tuple[str, str]] | None = None

    def start(self, ctx: EmulatorContext) -> None:
        self._ctx = ctx
        self._evaluated_until = ctx.clock.now()
        moto_patches.apply(moto_patches.cloudwatch.METRICS_CLOCK, clock=ctx.clock)
        moto_patches.apply(moto_patches.cloudwatch.ALARM_HISTORY, state_updates=state_updates)

    def stop(self) -> None:
        moto_patches.restore(moto_patches.cloudwatch.ALARM_HISTORY)
        moto_patches.restore(moto_patches.cloudwatch.METRICS_CLOCK)
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
        self._published = self._published_metrics()
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

    def _backend(self) -> Any:
        """moto's CloudWatch backend of the account and region the API clients act in."""
        assert self._ctx is not None
        return cloudwatch_models.cloudwatch_backends[emulator_account()][self._ctx.region]

    def _published_metrics(self) -> frozenset[tuple[str, str]]:
        stored = list(self._backend().metric_data)  # one atomic copy: threads publish
        return frozenset((datum.namespace, datum.name) for datum in stored)

    def _metric_alarms(self) -> list[dict[str, Any]]:
        """Every metric alarm, as DescribeAlarms(AlarmTypes=[MetricAlarm]) lists it."""
        stored = list(self._backend().alarms.values())  # one atomic copy: threads add alarms
        return [described_alarm(alarm) for alarm in stored if alarm.rule is None]

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
        for boundary, result in transitions(rule, series, boundaries, state):
            found.append(Transition(alarm, state, result, boundary))
            state = result.state
        return found

    def _series(
        self, alarm: dict[str, Any], rule: AlarmRule, start: datetime, end: datetime
    ) -> dict[int, float]:
        """The alarm's statistic per period start (epoch seconds) in [start, end)."""
        metric = (alarm["Namespace"], alarm["MetricName"])
        # moto computes AWS/S3's metrics on every query instead of storing them
        if self._published is not None and metric not in self._published and metric[0] != S3:
            return {}
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
        """GetMetricData's datapoints (epoch seconds -> value), asked of moto's backend."""
        results = self._backend().get_metric_data(
            queries=query,
            start_time=_naive_utc(start),
            end_time=_naive_utc(end),
            scan_by="TimestampAscending",
        )
        found: dict[int, float] = {}
        for result in results:
            for stamp, value in zip(result["timestamps"], result["values"], strict=True):
                # moto keeps naive UTC
                found[int(stamp.replace(tzinfo=UTC).timestamp())] = float(value)
        return found

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
        assert self._ctx is not None
        stamp_transition_time(alarm, transition.at, region=self._ctx.region)
        notified: list[str] = []
        if alarm_actions_enabled(self._client("cloudwatch"), alarm):
            notified = self._notify(transition)
        self._emit_state_change(transition)
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

    def _emit_state_change(self, transition: Transition) -> None:
        """The EventBridge event of the transition, on the default bus (best effort: a
        failed put is logged, the alarm's state and actions stand)."""
        assert self._ctx is not None
        entry = state_change_entry(transition)
        try:
            response = self._client("events").put_events(Entries=[entry])
        except Exception:  # the emulator's own API; never let it stop the evaluation
            log.exception("alarm %s: state change event not sent", transition.alarm["AlarmName"])
            return
        if response.get("FailedEntryCount"):
            log.warning("alarm state change event refused: %s", response.get("Entries"))

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


def described_alarm(alarm: Any) -> dict[str, Any]:
    """A moto metric alarm as DescribeAlarms returns it: the members the evaluator and the
    notification read, an optional one left out when unset, as boto3 leaves it out."""
    described: dict[str, Any] = {
        "AlarmName": alarm.name,
        "AlarmArn": alarm.alarm_arn,
        "ActionsEnabled": bool(alarm.actions_enabled),
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions or []],
        # moto's query objects, not the API's dicts: only whether there are any is read
        # (a metric-math alarm is skipped)
        "Metrics": list(alarm.metric_data_queries or []),
    }
    optional: dict[str, Any] = {
        "AlarmDescription": alarm.description,
        "AlarmConfigurationUpdatedTimestamp": _aware_utc(alarm.configuration_updated_timestamp),
        "StateValue": alarm.state_value,
        "StateReason": alarm.state_reason,
        "StateReasonData": alarm.state_reason_data,
        "StateUpdatedTimestamp": _aware_utc(alarm.state_updated_timestamp),
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "Statistic": alarm.statistic,
        "ExtendedStatistic": alarm.extended_statistic,
        "Period": _int_or_none(alarm.period),
        "Unit": alarm.unit,
        "EvaluationPeriods": _int_or_none(alarm.evaluation_periods),
        "DatapointsToAlarm": _int_or_none(alarm.datapoints_to_alarm),
        "Threshold": None if alarm.threshold is None else float(alarm.threshold),
        "ComparisonOperator": alarm.comparison_operator,
        "TreatMissingData": alarm.treat_missing_data,
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile,
    }
    return described | {key: value for key, value in optional.items() if value is not None}


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _aware_utc(moment: datetime | None) -> datetime | None:
    """moto keeps naive UTC; the API hands out aware datetimes, to the millisecond."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def stamp_transition_time(alarm: dict[str, Any], at: datetime, *, region: str) -> None:
    """Date the new state at its period boundary, as AWS does, not at the (later) moment the
    tick got to it: "since when" in `pablo oncall status` and the history depend on it.
    In-process, because no API sets StateUpdatedTimestamp."""
    account = alarm["AlarmArn"].split(":")[4] or emulator_account()
    backend = cloudwatch_models.cloudwatch_backends[account][region]
    stored = backend.alarms.get(alarm["AlarmName"])
    if stored is not None:
        stored.state_updated_timestamp = at.astimezone(UTC).replace(tzinfo=None)


def state_updates(alarm: Any) -> list[dict[str, Any]]:
    """AWS's StateUpdate history items of a moto alarm: moto keeps (kind, reason, data,
    state, time) of every earlier state in `history`, the current one on the alarm."""
    states = [(h[1], h[3], h[4]) for h in alarm.history if h[0] == "StateUpdate"]
    states.append((alarm.state_reason, alarm.state_value, alarm.state_updated_timestamp))
    items = []
    for (old_reason, old_value, _), (reason, value, at) in itertools.pairwise(states):
        old = INSUFFICIENT_DATA if old_reason == MOTO_INITIAL_REASON else old_value
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": old_reason},
            "newState": {"stateValue": value, "stateReason": reason},
        }
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": "MetricAlarm",
                "Timestamp": at,
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old} to {value}",
                "HistoryData": json.dumps(data),
            }
        )
    return items


def alarm_actions_enabled(cloudwatch: Any, alarm: dict[str, Any]) -> bool:
    """ActionsEnabled as it is now: the alarm was read at the start of the tick, and
    `DisableAlarmActions` may have arrived since (an on-call acknowledgement)."""
    current = cloudwatch.describe_alarms(AlarmNames=[alarm["AlarmName"]])["MetricAlarms"]
    source = current[0] if current else alarm
    return bool(source.get("ActionsEnabled", True))


def state_change_entry(transition: Transition) -> dict[str, Any]:
    """The PutEvents entry of AWS's "CloudWatch Alarm State Change" event."""
    alarm, result = transition.alarm, transition.evaluation
    metric: dict[str, Any] = {
        "namespace": alarm["Namespace"],
        "name": alarm["MetricName"],
        "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
    }
    detail = {
        "alarmName": alarm["AlarmName"],
        "state": {
            "value": result.state,
            "reason": result.reason,
            "reasonData": json.dumps(result.reason_data),
            "timestamp": format_aws_time(transition.at),
        },
        "previousState": {"value": transition.old_state},
        "configuration": {
            "description": alarm.get("AlarmDescription") or "",
            "metrics": [
                {
                    "id": "m1",
                    "metricStat": {
                        "metric": metric,
                        "period": alarm["Period"],
                        "stat": alarm["Statistic"],
                    },
                    "returnData": True,
                }
            ],
        },
    }
    return {
        "Source": STATE_CHANGE_SOURCE,
        "DetailType": STATE_CHANGE_DETAIL_TYPE,
        "Resources": [alarm["AlarmArn"]],
        "Time": transition.at,
        "Detail": json.dumps(detail),
    }


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
        "AWSAccountId": alarm["AlarmArn"].split(":")[4] or emulator_account(),
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
