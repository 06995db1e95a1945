"""The pure CloudWatch alarm evaluation used by the emulator (pablo.local.alarm_eval)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pablo.local.alarm_eval import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    TREAT_MISSING_DATA,
    AlarmRule,
    Datapoint,
    evaluate,
    evaluation_range,
    format_aws_time,
    is_breaching,
    period_boundaries,
    transitions,
    window_starts,
)

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
QUERY = T0 + timedelta(minutes=30)


def rule(**overrides: object) -> AlarmRule:
    values: dict[str, object] = {
        "comparison": "GreaterThanThreshold",
        "threshold": 3.0,
        "period": 60,
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        "treat_missing_data": "missing",
        "statistic": "Maximum",
    }
    values.update(overrides)
    return AlarmRule(**values)  # type: ignore[arg-type]


def window(*values: float | None) -> list[Datapoint]:
    """Datapoints one minute apart, oldest first, starting at T0."""
    return [Datapoint(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("comparison", "value", "expected"),
    [
        ("GreaterThanThreshold", 3.0, False),
        ("GreaterThanThreshold", 3.5, True),
        ("GreaterThanOrEqualToThreshold", 3.0, True),
        ("LessThanThreshold", 3.0, False),
        ("LessThanThreshold", 2.0, True),
        ("LessThanOrEqualToThreshold", 3.0, True),
    ],
)
def test_every_comparison_operator(comparison: str, value: float, expected: bool) -> None:
    # given a threshold of 3, when a value is compared, then the operator decides
    assert is_breaching(comparison, value, 3.0) is expected


def test_unknown_operator_and_bad_rule_are_refused() -> None:
    with pytest.raises(ValueError, match="ComparisonOperator"):
        rule(comparison="LessThanLowerOrGreaterThanUpperThreshold")
    with pytest.raises(ValueError, match="TreatMissingData"):
        rule(treat_missing_data="sometimes")
    with pytest.raises(ValueError, match="DatapointsToAlarm"):
        rule(evaluation_periods=2, datapoints_to_alarm=3)


def test_one_breaching_datapoint_alarms_with_an_aws_reason() -> None:
    # given a 1-of-1 alarm in OK and a datapoint of 5 over a threshold of 3
    result = evaluate(rule(), window(None, 5.0), OK, query_date=QUERY)
    # then it alarms with AWS's reason text
    assert result.state == ALARM
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (25/11/26 10:01:00)] was "
        "greater than the threshold (3.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    assert result.reason_data["recentDatapoints"] == [5.0]
    assert result.reason_data["evaluatedDatapoints"][0]["timestamp"] == (
        "2026-11-25T10:01:00.000+0000"
    )


def test_m_of_n_needs_m_breaching_datapoints() -> None:
    three_of_five = rule(evaluation_periods=5, datapoints_to_alarm=3)
    # given 2 breaching of 5, then OK; given 3 breaching of 5, then ALARM
    two = evaluate(three_of_five, window(5, 1, 5, 1, 1), ALARM, query_date=QUERY)
    three = evaluate(three_of_five, window(5, 1, 5, 1, 5), OK, query_date=QUERY)
    assert two.state == OK
    assert two.reason is not None
    assert "3 out of the last 5 datapoints" in two.reason
    assert "minimum 3 datapoints for ALARM -> OK transition" in two.reason
    assert three.state == ALARM
    assert "3 out of the last 5 datapoints" in (three.reason or "")
    assert "[5.0 (25/11/26 10:04:00), 5.0 (25/11/26 10:02:00), 5.0" in (three.reason or "")


def test_only_the_most_recent_n_real_datapoints_count() -> None:
    # given an old breach outside the last N real datapoints, then it is ignored
    two_of_two = rule(evaluation_periods=2, datapoints_to_alarm=2)
    result = evaluate(two_of_two, window(9, 1, 9, None), OK, query_date=QUERY)
    assert result.state == OK
    assert result.reason_data["recentDatapoints"] == [1, 9]


@pytest.mark.parametrize(
    ("treat", "current", "expected", "reason_start"),
    [
        ("missing", OK, INSUFFICIENT_DATA, "Insufficient Data: 1 datapoint was unknown."),
        ("ignore", ALARM, ALARM, None),
        ("breaching", OK, ALARM, "Threshold Crossed: no datapoints were received for 1 period"),
        ("notBreaching", ALARM, OK, "Threshold Crossed: no datapoints were received for 1 period"),
    ],
)
def test_all_missing_follows_treat_missing_data(
    treat: str, current: str, expected: str, reason_start: str | None
) -> None:
    # given no datapoint at all in the evaluation range
    result = evaluate(rule(treat_missing_data=treat), window(None, None), current, query_date=QUERY)
    # then TreatMissingData decides
    assert result.state == expected
    if reason_start is None:
        assert result.reason is None
    else:
        assert (result.reason or "").startswith(reason_start)


@pytest.mark.parametrize(
    ("treat", "expected"),
    [("missing", OK), ("ignore", OK), ("breaching", ALARM), ("notBreaching", OK)],
)
def test_partial_data_fills_missing_slots_only_when_told(treat: str, expected: str) -> None:
    # given a 2-of-3 alarm with one real breaching datapoint and the rest missing
    two_of_three = rule(evaluation_periods=3, datapoints_to_alarm=2, treat_missing_data=treat)
    result = evaluate(two_of_three, window(None, None, None, None, None, 5.0), OK, query_date=QUERY)
    # then breaching fills the two missing slots as breaches; the others do not reach 2
    assert result.state == expected


def test_missing_is_ignored_when_enough_real_datapoints_exist() -> None:
    # given breaching treatment but 3 real non-breaching datapoints among gaps in the range
    three = rule(evaluation_periods=3, datapoints_to_alarm=1, treat_missing_data="breaching")
    result = evaluate(three, window(1, None, 1, None, 1, None), ALARM, query_date=QUERY)
    # then the gaps play no part (AWS uses real datapoints from further back)
    assert result.state == OK
    assert "treated as" not in (result.reason or "")


def test_breaching_fill_is_explained_in_the_reason() -> None:
    two_of_two = rule(evaluation_periods=2, datapoints_to_alarm=2, treat_missing_data="breaching")
    result = evaluate(two_of_two, window(None, None, None, 5.0), OK, query_date=QUERY)
    assert result.state == ALARM
    assert "(1 missing datapoint was treated as [Breaching])" in (result.reason or "")


def test_period_boundaries_are_multiples_of_the_period_in_the_half_open_range() -> None:
    # given (10:00:30, 10:03:00], when periods are 60 s
    bounds = period_boundaries(T0 + timedelta(seconds=30), T0 + timedelta(minutes=3), 60)
    # then 10:01, 10:02 and 10:03 (the end is included, the start excluded)
    assert bounds == [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    assert period_boundaries(T0, T0, 60) == []
    assert period_boundaries(T0, T0 + timedelta(seconds=59), 60) == []


def test_window_covers_the_evaluation_range_before_the_boundary() -> None:
    two = rule(evaluation_periods=2, datapoints_to_alarm=1)
    starts = window_starts(T0, two)
    assert len(starts) == evaluation_range(2) == 4
    assert starts[0] == T0 - timedelta(minutes=4)
    assert starts[-1] == T0 - timedelta(minutes=1)


def test_aws_time_format() -> None:
    assert format_aws_time(T0 + timedelta(microseconds=123456)) == "2026-11-25T10:00:00.123+0000"


def _every_boundary(
    rule: AlarmRule, series: dict[int, float], boundaries: list[datetime], state: str
) -> list[tuple[datetime, str, str | None]]:
    """The oracle: every boundary evaluated, one after the other."""
    found = []
    for boundary in boundaries:
        window = [
            Datapoint(start, series.get(int(start.timestamp())))
            for start in window_starts(boundary, rule)
        ]
        result = evaluate(rule, window, state, query_date=boundary)
        if result.reason is not None and result.state != state:
            found.append((boundary, result.state, result.reason))
            state = result.state
    return found


@settings(max_examples=300, deadline=None)
@given(
    treat=st.sampled_from(TREAT_MISSING_DATA),
    periods=st.integers(1, 4),
    to_alarm=st.integers(1, 4),
    start_state=st.sampled_from([OK, ALARM, INSUFFICIENT_DATA]),
    points=st.dictionaries(st.integers(0, 59), st.sampled_from([0.0, 5.0, 10.0]), max_size=12),
)
def test_boundaries_with_no_data_after_none_are_skipped_without_changing_any_transition(
    treat: str, periods: int, to_alarm: int, start_state: str, points: dict[int, float]
) -> None:
    # Given a rule, a sparse series of 1-minute periods and an hour of boundaries
    alarm = AlarmRule(
        comparison="GreaterThanThreshold",
        threshold=6.0,
        period=60,
        evaluation_periods=periods,
        datapoints_to_alarm=min(to_alarm, periods),
        treat_missing_data=treat,
    )
    start = datetime(2026, 11, 25, 10, tzinfo=UTC)
    series = {int(start.timestamp()) + 60 * minute: value for minute, value in points.items()}
    boundaries = period_boundaries(start, start + timedelta(hours=1), 60)
    # When the transitions are found, skipping the empty windows
    found = transitions(alarm, series, boundaries, start_state)
    # Then they are the ones found by evaluating every boundary, with the same reasons
    assert [(b, e.state, e.reason) for b, e in found] == _every_boundary(
        alarm, series, boundaries, start_state
    )
