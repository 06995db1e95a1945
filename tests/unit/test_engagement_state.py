"""Engagement bookkeeping: which days a run computes, freshness, seats, and the ingest
handler's answer to a transient failure."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from functions.core import schemas
from functions.core.engagement_state import (
    DayState,
    active_user_days,
    day_state,
    days_to_compute,
    freshness_hours,
)
from functions.core.transform import engagement

NOW = datetime(2026, 9, 10, 2, 0, tzinfo=UTC)


def _state(day: str, *, aggregated: bool = True, marks: int = 0, clean: int = 0) -> DayState:
    return DayState(date.fromisoformat(day), NOW if aggregated else None, marks, clean)


def test_a_run_computes_yesterday_and_the_dirty_days_only() -> None:
    # Given a clean day, a dirty day, a day marked but since recomputed, a future dirty day
    states = [
        _state("2026-09-01"),
        _state("2026-09-03", marks=2, clean=1),
        _state("2026-09-05", marks=1, clean=1),
        _state("2026-09-10", marks=1),
    ]
    # Then the run computes the dirty day and yesterday, oldest first
    assert days_to_compute(NOW, states) == [date(2026, 9, 3), date(2026, 9, 9)]


def test_a_day_never_aggregated_is_not_dirty() -> None:
    assert not _state("2026-09-03", aggregated=False, marks=1).dirty
    assert day_state({"sk": "2026-09-03"}) == DayState(date(2026, 9, 3), None, 0, 0)


def test_active_users_are_recomputed_for_the_30_days_a_restated_day_touches() -> None:
    days = active_user_days([date(2026, 9, 1)], until=date(2026, 9, 9))
    assert days == [date(2026, 9, d) for d in range(1, 10)]
    assert len(active_user_days([date(2026, 1, 1)], until=date(2026, 12, 31))) == 30


def test_freshness_is_hours_since_the_newest_event_and_none_before_any() -> None:
    assert freshness_hours(NOW, None) is None
    assert freshness_hours(NOW, NOW - timedelta(hours=49)) == pytest.approx(49)
    assert freshness_hours(NOW, NOW + timedelta(hours=1)) == 0.0


def _account_events(rows: list[tuple[str, str, str, datetime, int | None]]) -> pa.Table:
    """RAW_ACCOUNT_EVENTS rows from (event_id, account_id, event_type, event_time, seats)."""
    return pa.table(
        {
            "event_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "event_time": [r[3] for r in rows],
            "plan": [None] * len(rows),
            "seats": [r[4] for r in rows],
            "mrr_cents": [None] * len(rows),
            "currency": ["USD"] * len(rows),
            "recorded_by": [None] * len(rows),
            "source_key": ["k"] * len(rows),
        },
        schema=schemas.RAW_ACCOUNT_EVENTS.arrow_schema(),
    )


def test_seats_are_the_latest_known_count_at_the_end_of_the_day() -> None:
    # Given the account events of two created accounts and of acct-3, which no creating
    # event created (its seats count nowhere: it is not a known account)
    rows = [
        ("e1", "acct-1", datetime(2026, 9, 1, tzinfo=UTC), 5, "subscribed"),
        ("e2", "acct-1", datetime(2026, 9, 5, tzinfo=UTC), 8, "seats_changed"),
        ("e3", "acct-1", datetime(2026, 9, 6, tzinfo=UTC), None, "plan_changed"),  # no seats
        ("e4", "acct-1", datetime(2026, 9, 20, tzinfo=UTC), 12, "seats_changed"),  # after
        ("e5", "acct-2", datetime(2026, 9, 2, tzinfo=UTC), None, "subscribed"),
        ("e6", "acct-3", datetime(2026, 9, 2, tzinfo=UTC), 40, "seats_changed"),
    ]
    table = _account_events([(i, a, kind, at, seats) for i, a, at, seats, kind in rows])
    assert engagement.seats_as_of(table, date(2026, 9, 10)) == {"acct-1": 8, "acct-2": None}
    assert engagement.seats_as_of(_account_events([]), date(2026, 9, 10)) == {}


class _ThrottledS3:
    def put_object(self, **_: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "PutObject")


def test_a_transient_s3_failure_is_one_item_failure_at_the_first_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the ingest handler whose S3 writes are throttled
    from functions.core import env  # noqa: PLC0415
    from functions.handlers import click_ingest, settings  # noqa: PLC0415

    for name, value in {
        env.RAW_BUCKET: "raw",
        env.QUARANTINE_BUCKET: "q",
        env.STATE_TABLE: "state",
        env.METRICS_NAMESPACE: "ns",
        env.ALLOWED_LATENESS_DAYS: "7",
    }.items():
        monkeypatch.setenv(name, value)
    settings.settings.cache_clear()
    monkeypatch.setattr(click_ingest, "_client", lambda service: _ThrottledS3())
    data = json.dumps(
        {
            "event_id": "e",
            "account_id": "a",
            "user_id": "u",
            "event_type": "click",
            "event_time": int(NOW.timestamp() * 1000),
        }
    ).encode()
    records = [
        {
            "kinesis": {
                "data": base64.b64encode(data).decode(),
                "sequenceNumber": f"{seq:05d}",
                "approximateArrivalTimestamp": NOW.timestamp(),
            },
            "eventID": f"shardId-000000000000:{seq:05d}",
        }
        for seq in (7, 8)
    ]
    # When a batch arrives
    answer = click_ingest.handler.__wrapped__({"Records": records}, None)  # type: ignore[attr-defined]
    settings.settings.cache_clear()
    # Then the batch is retried from its first record, not raised (which would block the shard)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "00007"}]}


def test_trial_and_churned_accounts_license_no_seats() -> None:
    # given by the end of 2026-09-10:
    #   trial: started a trial with 5 seats                     -> 0 (not paying)
    #   gone:  subscribed with 4 seats, cancelled, then churned -> 0
    #   paid:  subscribed with 3 seats, then cancelled (pays to the end of its contract) -> 3
    #   back:  churned then reactivated with 6 seats            -> 6
    rows = [
        ("t1", "trial", "trial_started", datetime(2026, 9, 1, tzinfo=UTC), 5),
        ("g1", "gone", "subscribed", datetime(2026, 9, 1, tzinfo=UTC), 4),
        ("g2", "gone", "cancelled", datetime(2026, 9, 3, tzinfo=UTC), None),
        ("g3", "gone", "churned", datetime(2026, 9, 5, tzinfo=UTC), None),
        ("p1", "paid", "subscribed", datetime(2026, 9, 1, tzinfo=UTC), 3),
        ("p2", "paid", "cancelled", datetime(2026, 9, 8, tzinfo=UTC), None),
        ("b1", "back", "subscribed", datetime(2026, 8, 1, tzinfo=UTC), 2),
        ("b2", "back", "cancelled", datetime(2026, 8, 2, tzinfo=UTC), None),
        ("b3", "back", "churned", datetime(2026, 8, 3, tzinfo=UTC), None),
        ("b4", "back", "reactivated", datetime(2026, 9, 9, tzinfo=UTC), 6),
    ]
    table = _account_events(rows)
    assert engagement.seats_as_of(table, date(2026, 9, 10)) == {
        "trial": 0,
        "gone": 0,
        "paid": 3,
        "back": 6,
    }
    # and on 2026-09-04, before the churn, the cancelled account still pays for its 4 seats
    assert engagement.seats_as_of(table, date(2026, 9, 4))["gone"] == 4


def test_seats_by_day_replays_each_day_from_the_events_before_its_end() -> None:
    # Given acct-1 subscribed with 5 seats on 09-01, grew to 8 on 09-05 and churned on
    # 09-07; acct-2 subscribed with 2 on 09-03 (events listed out of time order)
    rows = [
        ("e3", "acct-1", "churned", datetime(2026, 9, 7, 12, tzinfo=UTC), None),
        ("e1", "acct-1", "subscribed", datetime(2026, 9, 1, tzinfo=UTC), 5),
        ("e4", "acct-2", "subscribed", datetime(2026, 9, 3, tzinfo=UTC), 2),
        ("e2", "acct-1", "seats_changed", datetime(2026, 9, 5, 23, 59, tzinfo=UTC), 8),
    ]
    table = _account_events(rows)
    days = [date(2026, 9, 7), date(2026, 8, 31), date(2026, 9, 5), date(2026, 9, 2)]

    # When the seats of four days are asked at once
    by_day = engagement.seats_by_day(table, days)

    # Then each day has the seats at its end: none before any event, 5 then 8 for acct-1
    # (its 09-05 23:59 change counts on 09-05), 0 once churned; acct-2 from 09-03
    assert by_day == {
        date(2026, 8, 31): {},
        date(2026, 9, 2): {"acct-1": 5},
        date(2026, 9, 5): {"acct-1": 8, "acct-2": 2},
        date(2026, 9, 7): {"acct-1": 0, "acct-2": 2},
    }
    # and each is what seats_as_of says for that day alone
    assert all(by_day[day] == engagement.seats_as_of(table, day) for day in days)
    assert engagement.seats_by_day(_account_events([]), days[:1]) == {date(2026, 9, 7): {}}
