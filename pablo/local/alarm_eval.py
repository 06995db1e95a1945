"""Pure CloudWatch metric-alarm evaluation: datapoints and an alarm's rule in, a state out.

moto stores alarms but never evaluates them; `pablo.local.alarms` fetches the datapoints
through the CloudWatch API and asks this module what the state should be. The semantics
follow the CloudWatch documentation ("Evaluating an alarm", "Configuring how CloudWatch
alarms treat missing data"):

- The alarm looks at an *evaluation range* of periods that is wider than EvaluationPeriods
  (N). AWS does not publish its exact width; here it is N plus min(N, 5) extra periods.
- If at least N real datapoints are in the range, the N most recent real ones are evaluated
  and TreatMissingData plays no part.
- If fewer than N are real, every real one is evaluated and the missing slots up to N are
  filled as TreatMissingData says: `breaching` and `notBreaching` fill them, `missing` and
  `ignore` leave them out.
- If none is real: `missing` -> INSUFFICIENT_DATA, `ignore` -> the state is kept,
  `breaching` -> ALARM, `notBreaching` -> OK.
- ALARM when at least DatapointsToAlarm (M) evaluated datapoints breach, else OK.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final

OK: Final = "OK"
ALARM: Final = "ALARM"
INSUFFICIENT_DATA: Final = "INSUFFICIENT_DATA"

MISSING: Final = "missing"
IGNORE: Final = "ignore"
BREACHING: Final = "breaching"
NOT_BREACHING: Final = "notBreaching"
TREAT_MISSING_DATA: Final = (MISSING, IGNORE, BREACHING, NOT_BREACHING)

# The phrase AWS puts in a state reason for each operator.
COMPARISON_PHRASES: Final[dict[str, str]] = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
# Anomaly-detection operators compare against a band computed by a model, not a number.
BAND_OPERATORS: Final = frozenset(
    {
        "LessThanLowerOrGreaterThanUpperThreshold",
        "LessThanLowerThreshold",
        "GreaterThanUpperThreshold",
    }
)
MAX_EXTRA_PERIODS: Final = 5


@dataclass(frozen=True)
class AlarmRule:
    """The part of a metric alarm's configuration that decides its state."""

    comparison: str
    threshold: float
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str = MISSING
    statistic: str = "Average"

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISON_PHRASES:
            raise ValueError(f"unsupported ComparisonOperator {self.comparison!r}")
        if self.treat_missing_data not in TREAT_MISSING_DATA:
            raise ValueError(f"unknown TreatMissingData {self.treat_missing_data!r}")
        if self.period <= 0 or self.evaluation_periods <= 0:
            raise ValueError("Period and EvaluationPeriods must be positive")
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError("DatapointsToAlarm must be between 1 and EvaluationPeriods")


@dataclass(frozen=True)
class Datapoint:
    """One period's statistic; `value` None means no data arrived for the period."""

    timestamp: datetime
    value: float | None


@dataclass(frozen=True)
class Evaluation:
    """The state the alarm should be in; `reason` is None when the state is simply kept."""

    state: str
    reason: str | None
    # AWS's StateReasonData, made on demand: only a transition needs it, and an alarm is
    # evaluated at every period boundary (making it each time was ~4% of the emulator's CPU
    # in a demo, most of it formatting timestamps).
    explain: Callable[[], dict[str, Any]] = field(default=dict, repr=False, compare=False)

    @property
    def reason_data(self) -> dict[str, Any]:
        return self.explain()


def evaluation_range(evaluation_periods: int) -> int:
    """How many periods an evaluation looks at (see the module docstring)."""
    return evaluation_periods + min(evaluation_periods, MAX_EXTRA_PERIODS)


def is_breaching(comparison: str, value: float, threshold: float) -> bool:
    if comparison == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if comparison == "GreaterThanThreshold":
        return value > threshold
    if comparison == "LessThanThreshold":
        return value < threshold
    if comparison == "LessThanOrEqualToThreshold":
        return value <= threshold
    raise ValueError(f"unsupported ComparisonOperator {comparison!r}")


def period_boundaries(old: datetime, new: datetime, period: int) -> list[datetime]:
    """Every multiple of `period` seconds since the epoch in (old, new], oldest first.

    An alarm is evaluated at each boundary, over the periods that ended there.
    """
    first = math.floor(old.timestamp() / period) * period + period
    last = math.floor(new.timestamp() / period) * period
    return [datetime.fromtimestamp(t, UTC) for t in range(first, last + 1, period)]


def window_starts(boundary: datetime, rule: AlarmRule) -> list[datetime]:
    """Start times of the periods evaluated at `boundary`, oldest first."""
    size = evaluation_range(rule.evaluation_periods)
    step = timedelta(seconds=rule.period)
    return [boundary - step * (size - index) for index in range(size)]


def transitions(
    rule: AlarmRule, series: Mapping[int, float], boundaries: Sequence[datetime], state: str
) -> list[tuple[datetime, Evaluation]]:
    """The state changes at `boundaries` (oldest first), starting from `state`: each boundary
    evaluated over its window of `series` (the statistic per period start, epoch seconds).

    A boundary whose window holds no datapoint, right after one whose window held none
    either, is not evaluated: with no data the outcome depends on the state alone, and it is
    the state the previous boundary already gave (TreatMissingData: INSUFFICIENT_DATA, OK,
    ALARM, or the state kept), so it cannot change it. Most boundaries of most alarms are such
    (an alarm with 1-minute periods has 1,440 a day).
    """
    span = evaluation_range(rule.evaluation_periods) * rule.period
    stamps = sorted(series)
    found: list[tuple[datetime, Evaluation]] = []
    previous_empty = False
    for boundary in boundaries:
        end = int(boundary.timestamp())
        first = bisect_left(stamps, end - span)
        empty = first == len(stamps) or stamps[first] >= end
        if empty and previous_empty:
            continue
        previous_empty = empty
        window = [
            Datapoint(start, series.get(int(start.timestamp())))
            for start in window_starts(boundary, rule)
        ]
        result = evaluate(rule, window, state, query_date=boundary)
        if result.reason is not None and result.state != state:
            found.append((boundary, result))
            state = result.state
    return found


def evaluate(
    rule: AlarmRule,
    window: Sequence[Datapoint],
    current_state: str,
    *,
    query_date: datetime,
) -> Evaluation:
    """The alarm's state given its evaluation range `window` (oldest first)."""
    real = [point for point in window if point.value is not None]
    n = rule.evaluation_periods
    if not real:
        return _all_missing(rule, current_state, window, query_date)
    evaluated = real[-n:]
    filled = 0 if len(real) >= n else n - len(real)
    fill_breaching = filled if rule.treat_missing_data == BREACHING else 0
    fill_ok = filled if rule.treat_missing_data == NOT_BREACHING else 0
    breaching = [p for p in evaluated if _breaches(rule, p)]
    data = partial(_reason_data, rule, window, evaluated, query_date)
    if len(breaching) + fill_breaching >= rule.datapoints_to_alarm:
        return Evaluation(
            ALARM, _alarm_reason(rule, current_state, evaluated, fill_breaching), data
        )
    not_breaching = [p for p in evaluated if not _breaches(rule, p)]
    return Evaluation(OK, _ok_reason(rule, current_state, evaluated, not_breaching, fill_ok), data)


def _breaches(rule: AlarmRule, point: Datapoint) -> bool:
    assert point.value is not None
    return is_breaching(rule.comparison, point.value, rule.threshold)


def _all_missing(
    rule: AlarmRule, current_state: str, window: Sequence[Datapoint], query_date: datetime
) -> Evaluation:
    n = rule.evaluation_periods
    data = partial(_reason_data, rule, window, [], query_date)
    treat = rule.treat_missing_data
    if treat == IGNORE:
        return Evaluation(current_state, None, data)
    if treat == MISSING:
        return Evaluation(
            INSUFFICIENT_DATA, f"Insufficient Data: {_count(n)} {_was(n)} unknown.", data
        )
    treated_as = "Breaching" if treat == BREACHING else "NonBreaching"
    periods = f"{n} period" if n == 1 else f"{n} periods"
    reason = (
        f"Threshold Crossed: no datapoints were received for {periods} and {n} missing "
        f"{'datapoint was' if n == 1 else 'datapoints were'} treated as [{treated_as}]."
    )
    return Evaluation(ALARM if treat == BREACHING else OK, reason, data)


def _alarm_reason(
    rule: AlarmRule, current_state: str, evaluated: Sequence[Datapoint], filled: int
) -> str:
    breaching = [p for p in evaluated if _breaches(rule, p)]
    count = len(breaching) + filled
    total = len(evaluated) + filled
    m = rule.datapoints_to_alarm
    reason = (
        f"Threshold Crossed: {count} out of the last {total} datapoints "
        f"[{_listing(breaching)}] {_was_were(count)} {COMPARISON_PHRASES[rule.comparison]} "
        f"the threshold ({_number(rule.threshold)})"
    )
    if filled:
        reason += f" ({filled} missing {_was_were(filled, 'datapoint')} treated as [Breaching])"
    return f"{reason} (minimum {_count(m)} for {current_state} -> ALARM transition)."


def _ok_reason(
    rule: AlarmRule,
    current_state: str,
    evaluated: Sequence[Datapoint],
    not_breaching: Sequence[Datapoint],
    filled: int,
) -> str:
    count = len(not_breaching) + filled
    total = len(evaluated) + filled
    needed = rule.evaluation_periods - rule.datapoints_to_alarm + 1
    reason = (
        f"Threshold Crossed: {count} out of the last {total} datapoints "
        f"[{_listing(not_breaching)}] {_was_were(count)} not "
        f"{COMPARISON_PHRASES[rule.comparison]} the threshold ({_number(rule.threshold)})"
    )
    if filled:
        reason += f" ({filled} missing {_was_were(filled, 'datapoint')} treated as [NonBreaching])"
    return f"{reason} (minimum {_count(needed)} for {current_state} -> OK transition)."


def _reason_data(
    rule: AlarmRule,
    window: Sequence[Datapoint],
    evaluated: Sequence[Datapoint],
    query_date: datetime,
) -> dict[str, Any]:
    """AWS's StateReasonData document (most recent datapoints first, as AWS lists them)."""
    start = window[0].timestamp if window else query_date
    return {
        "version": "1.0",
        "queryDate": format_aws_time(query_date),
        "startDate": format_aws_time(start),
        "statistic": rule.statistic,
        "period": rule.period,
        "recentDatapoints": [p.value for p in evaluated],
        "threshold": rule.threshold,
        "evaluatedDatapoints": [
            {"timestamp": format_aws_time(p.timestamp), "value": p.value}
            for p in reversed(evaluated)
        ],
    }


def _listing(points: Sequence[Datapoint]) -> str:
    """`5.0 (25/11/26 10:00:00), ...`, most recent first, in AWS's day/month/year format."""
    return ", ".join(
        f"{_number(p.value or 0.0)} ({p.timestamp.astimezone(UTC):%d/%m/%y %H:%M:%S})"
        for p in reversed(points)
    )


def _number(value: float) -> str:
    return repr(float(value))


def _count(n: int) -> str:
    return f"{n} datapoint" if n == 1 else f"{n} datapoints"


def _was(n: int) -> str:
    return "was" if n == 1 else "were"


def _was_were(n: int, noun: str = "") -> str:
    if not noun:
        return _was(n)
    return f"{noun} was" if n == 1 else f"{noun}s were"


def format_aws_time(moment: datetime) -> str:
    """CloudWatch's timestamp format in notifications: 2026-11-25T10:00:00.000+0000."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"
