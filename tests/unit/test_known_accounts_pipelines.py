"""The known-account rule (definitions.known_accounts) in the engagement day and the
experiment assignments: clicks and account units of accounts no creating event created are
quarantined `unknown_account`, counted, and in no figure; offered rows still balance."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.core import definitions, schemas
from functions.core.transform import engagement, experiments
from functions.core.transform.engagement_state import DayState, awaiting_accounts, days_to_compute
from tests.unit.test_engagement import DAY, at, raw_row, raw_table

NOW = datetime(2026, 9, 12, 2, tzinfo=UTC)


def _day(raw: pa.Table, known: frozenset[str], path: Path) -> engagement.DayResult:
    return engagement.engagement_day(
        raw, DAY, clicks_path=str(path), known_accounts=known, first_aggregated_at=None
    )


def test_clicks_of_an_unknown_account_are_left_out_and_counted(tmp_path: Path) -> None:
    # Given a day of acct-1 (created) and acct-9 (no creating event): acct-1's u1 clicks at
    # 09:00 and 09:10 (one session of 600 s), acct-9's u9 at 10:00, twice (a natural copy)
    # and at 10:05 with a synthetic copy of e4 (same id, other page)
    raw = raw_table(
        [
            raw_row("e1", at(9, 1), user_id="u1", event_time=at(9)),
            raw_row("e2", at(9, 11), user_id="u1", event_time=at(9, 10)),
            raw_row("e3", at(10, 1), account_id="acct-9", user_id="u9", event_time=at(10)),
            raw_row("e3", at(10, 2), account_id="acct-9", user_id="u9", event_time=at(10)),
            raw_row("e4", at(10, 6), account_id="acct-9", user_id="u9", event_time=at(10, 5)),
            raw_row(
                "e4", at(10, 7), account_id="acct-9", user_id="u9", event_time=at(10, 5), page="/p"
            ),
        ]
    )
    path = tmp_path / "clicks.parquet"
    # When the day is computed with acct-1 the only known account
    result = _day(raw, frozenset({"acct-1"}), path)
    # Then only acct-1's clicks are kept: 2 clicks, 1 user, 1 session of 600 s
    assert pq.read_table(path).column("event_id").to_pylist() == ["e1", "e2"]
    users = result.user_daily.to_pylist()
    assert [(u["account_id"], u["user_id"], u["clicks"], u["sessions"]) for u in users] == [
        ("acct-1", "u1", 2, 1)
    ]
    assert users[0]["session_seconds"] == 600.0
    # and acct-9's two distinct clicks are counted unknown, its two extra copies duplicates:
    # landed 6 = kept 2 + natural 1 + synthetic 1 + unknown 2
    dedup = result.dedup.to_pylist()[0]
    assert (dedup["rows_landed"], dedup["rows_kept"], dedup["unknown_account_clicks"]) == (6, 2, 2)
    assert (dedup["natural_duplicates"], dedup["synthetic_duplicates"]) == (1, 1)
    assert result.unknown_account_clicks.column("event_id").to_pylist() == ["e3", "e4"]
    # and they still count as landed for stream completeness (nothing was lost): 2 + 2
    assert sum(result.landed_by_hour.values()) == 4


def test_the_quarantine_rows_of_unknown_clicks_carry_the_payload_and_the_reason(
    tmp_path: Path,
) -> None:
    # Given one click of acct-9, which no creating event created
    raw = raw_table(
        [raw_row("e3", at(10, 1), account_id="acct-9", user_id="u9", event_time=at(10))]
    )
    result = _day(raw, frozenset({"acct-1"}), tmp_path / "c.parquet")
    # When its quarantine rows are built
    rows = engagement.unknown_account_quarantine(
        result.unknown_account_clicks, DAY, received_at=NOW
    ).to_pylist()
    # Then one row, reason unknown_account, its day's partition, the contract's payload
    assert len(rows) == 1
    row = rows[0]
    assert row["reason"] == definitions.UNKNOWN_ACCOUNT
    assert (row["source"], row["pipeline"], row["dt"]) == ("clicks", "engagement", "2026-09-10")
    assert row["record_id"] == "raw_clicks/dt=2026-09-10#e3"
    ten = int(datetime(2026, 9, 10, 10, tzinfo=UTC).timestamp() * 1000)
    assert json.loads(row["raw"]) == {
        "account_id": "acct-9",
        "event_id": "e3",
        "event_time": ten,
        "event_type": "click",
        "page": None,
        "user_id": "u9",
    }
    assert engagement.unknown_accounts_of(result.unknown_account_clicks) == ["acct-9"]


def test_a_day_is_recomputed_once_an_account_it_quarantined_is_created() -> None:
    # Given three aggregated, clean days: the 9th quarantined acct-9's clicks, the 10th
    # acct-8's, the 8th none
    aggregated = NOW - timedelta(days=1)
    states = [
        DayState(date(2026, 9, 8), aggregated, 0, 0),
        DayState(date(2026, 9, 9), aggregated, 0, 0, unknown_accounts=frozenset({"acct-9"})),
        DayState(date(2026, 9, 10), aggregated, 0, 0, unknown_accounts=frozenset({"acct-8"})),
    ]
    assert awaiting_accounts(states) and not awaiting_accounts(states[:1])
    # When a creating event of acct-9 has landed since: the 9th is recomputed (and yesterday)
    assert days_to_compute(NOW, states, frozenset({"acct-1", "acct-9"})) == [
        date(2026, 9, 9),
        date(2026, 9, 11),
    ]
    # and while neither is known, only yesterday
    assert days_to_compute(NOW, states, frozenset({"acct-1"})) == [date(2026, 9, 11)]


def test_seats_of_unknown_accounts_are_no_licence() -> None:
    # Given acct-1 subscribed with 5 seats and acct-9 with only a seats change (never created)
    events = pa.Table.from_pylist(
        [
            _account_event("a1", "acct-1", "subscribed", 5),
            _account_event("a2", "acct-9", "seats_changed", 7),
        ],
        schema=schemas.RAW_ACCOUNT_EVENTS.arrow_schema(),
    )
    # When seats are read for the day / Then only the known account has a row
    assert engagement.seats_as_of(events, DAY) == {"acct-1": 5}


def _account_event(event_id: str, account: str, event_type: str, seats: int) -> dict:
    return {
        "event_id": event_id,
        "account_id": account,
        "event_type": event_type,
        "event_time": datetime(2026, 9, 1, tzinfo=UTC),
        "plan": "team",
        "seats": seats,
        "mrr_cents": seats * 1000,
        "currency": "USD",
        "recorded_by": None,
        "source_key": "account_events/x.jsonl",
    }


def _assignment(assignment_id: str, unit_type: str, unit: str, source: str = "a.jsonl") -> dict:
    return {
        "assignment_id": assignment_id,
        "experiment_id": "exp_1",
        "variant": "control",
        "unit_type": unit_type,
        "unit_id": unit,
        "assigned_at": datetime(2026, 9, 3, 12, tzinfo=UTC),
        "source_key": source,
        "experiment": "exp_1",
    }


def test_assignments_of_unknown_account_units_are_quarantined() -> None:
    # Given four assignment rows: acct-1 (known), acct-9 (never created), a user unit, and
    # acct-1's row again from a second file (an overlap)
    raw = pa.Table.from_pylist(
        [
            _assignment("s1", "account", "acct-1"),
            _assignment("s2", "account", "acct-9"),
            _assignment("s3", "user", "user-7"),
            _assignment("s1", "account", "acct-1", source="b.jsonl"),
        ],
        schema=schemas.RAW_ASSIGNMENTS.arrow_schema(with_partitions=True),
    )
    # When split by the account check
    split = experiments.split_unknown_accounts(raw, frozenset({"acct-1"}), received_at=NOW)
    # Then offered 4 = 2 kept (s1, s3) + 1 quarantined (s2) + 1 duplicate
    assert sorted(split.known.column("assignment_id").to_pylist()) == ["s1", "s3"]
    assert split.duplicates == 1
    rows = split.quarantined.to_pylist()
    assert [(r["reason"], r["record_id"], r["dt"]) for r in rows] == [
        ("unknown_account", "a.jsonl#s2", "2026-09-03")
    ]
    assert json.loads(rows[0]["raw"])["unit_id"] == "acct-9"
    # and the assignments table built from the rest has no acct-9
    units = experiments.assignments_table(split.known).column("unit_id").to_pylist()
    assert units == ["acct-1", "user-7"]


# --- property: any clicks over known and unknown accounts balance ---------------------

_ACCOUNTS = ("acct-1", "acct-2", "acct-8", "acct-9")
_click = st.tuples(
    st.integers(min_value=0, max_value=11),  # event id: repeats are duplicates
    st.sampled_from(_ACCOUNTS),
    st.integers(min_value=0, max_value=3),  # user
    st.integers(min_value=0, max_value=24 * 60 - 1),  # minute of the day
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    clicks=st.lists(_click, min_size=0, max_size=30),
    known=st.frozensets(st.sampled_from(_ACCOUNTS)),
)
def test_any_clicks_balance_and_no_figure_includes_an_unknown_account(
    tmp_path: Path, clicks: list[tuple[int, str, int, int]], known: frozenset[str]
) -> None:
    # Given any clicks (repeated ids, any account) and any set of known accounts
    rows = [
        raw_row(
            f"e{i}",
            at(30) + timedelta(seconds=n),  # arrivals in list order: the first copy is kept
            account_id=account,
            user_id=f"{account}-u{user}",
            event_time=at(0, minute),
        )
        for n, (i, account, user, minute) in enumerate(clicks)
    ]
    path = tmp_path / "property.parquet"
    path.unlink(missing_ok=True)
    # When the day is computed
    result = _day(raw_table(rows), known, path)
    dedup = result.dedup.to_pylist()[0]
    # Then every row offered is accepted, a duplicate or quarantined unknown_account
    duplicates = dedup["natural_duplicates"] + dedup["synthetic_duplicates"]
    assert dedup["rows_landed"] == len(rows)
    assert dedup["rows_landed"] == dedup["rows_kept"] + duplicates + dedup["unknown_account_clicks"]
    quarantine = engagement.unknown_account_quarantine(
        result.unknown_account_clicks, DAY, received_at=NOW
    )
    assert quarantine.num_rows == dedup["unknown_account_clicks"]
    assert set(quarantine.column("reason").to_pylist()) <= {definitions.UNKNOWN_ACCOUNT}
    # and each distinct click (the first copy of its id decides its account) is in exactly
    # one place: the clicks file when its account is known, the quarantine otherwise
    first_copy: dict[str, str] = {}
    for i, account, _, _ in clicks:
        first_copy.setdefault(f"e{i}", account)
    kept = pq.read_table(path)
    assert sorted(kept.column("event_id").to_pylist()) == sorted(
        e for e, a in first_copy.items() if a in known
    )
    assert sorted(result.unknown_account_clicks.column("event_id").to_pylist()) == sorted(
        e for e, a in first_copy.items() if a not in known
    )
    # and no figure names an unknown account
    assert set(kept.column("account_id").to_pylist()) <= known
    assert set(result.user_daily.column("account_id").to_pylist()) <= known
    daily = engagement.engagement_daily(result.user_daily, DAY)
    assert set(daily.column("account_id").to_pylist()) <= known
    assert sum(daily.column("clicks").to_pylist()) == dedup["rows_kept"]


def test_the_property_counts_hand_checked_example(tmp_path: Path) -> None:
    # Given e0 of acct-9 twice and e1 of acct-1 once, acct-1 known
    rows = [
        raw_row("e0", at(1), account_id="acct-9", event_time=at(1)),
        raw_row("e0", at(2), account_id="acct-9", event_time=at(1)),
        raw_row("e1", at(3), account_id="acct-1", event_time=at(3)),
    ]
    result = _day(raw_table(rows), frozenset({"acct-1"}), tmp_path / "x.parquet")
    dedup = result.dedup.to_pylist()[0]
    # Then 3 landed = 1 kept + 1 natural duplicate + 1 unknown_account
    assert (dedup["rows_landed"], dedup["rows_kept"], dedup["natural_duplicates"]) == (3, 1, 1)
    assert dedup["unknown_account_clicks"] == 1


@pytest.mark.parametrize("known", [frozenset(), frozenset({"acct-1"})])
def test_an_empty_day_has_nothing_unknown(tmp_path: Path, known: frozenset[str]) -> None:
    result = _day(raw_table([]), known, tmp_path / "e.parquet")
    assert result.dedup.to_pylist()[0]["unknown_account_clicks"] == 0
    assert result.unknown_account_clicks.num_rows == 0
