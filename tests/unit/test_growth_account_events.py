"""Validation of account_events landing files: every line accepted, counted as a duplicate
or quarantined with the contract's reason code; generated faults are caught exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from functions.core import codes, definitions
from functions.core.ingest import account_events as ae
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig

NOW = datetime(2026, 9, 15, tzinfo=UTC)
GOOD = {
    "event_id": "e-1",
    "account_id": "acct-0001",
    "event_type": "subscribed",
    "event_time": "2026-09-01T10:00:00Z",
    "plan": "team",
    "seats": 2,
    "mrr_cents": 7000,
    "currency": "USD",
    "recorded_by": "ae:jkim",
}


def _line(**over: object) -> bytes:
    return json.dumps({**GOOD, **over}).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", codes.INVALID_UTF8),
        (b'{"event_id": ', codes.INVALID_JSON),
        (b"[1, 2]", codes.NOT_AN_OBJECT),
        (b'{"event_id": "a", "event_id": "b"}', codes.DUPLICATE_JSON_KEY),
        (
            json.dumps({k: v for k, v in GOOD.items() if k != "currency"}).encode(),
            codes.MISSING_FIELD,
        ),
        (_line(plan=None), codes.NULL_FIELD),
        (_line(seats="2"), codes.WRONG_TYPE),
        (_line(seats=True), codes.WRONG_TYPE),
        (_line(account_id=""), codes.INVALID_ID),
        (_line(event_type="paused"), codes.UNKNOWN_EVENT_TYPE),
        (_line(event_time="2026-09-01T10:00:00+02:00"), codes.INVALID_TIMESTAMP),
        (_line(event_time="2026-12-01T10:00:00Z"), codes.FUTURE_TIMESTAMP),
        (_line(plan="enterprise"), codes.UNKNOWN_PLAN),
        (_line(seats=0, mrr_cents=0), codes.NEGATIVE_SEATS),
        (_line(mrr_cents=-1), codes.NEGATIVE_AMOUNT),
        (_line(mrr_cents=1), codes.MRR_MISMATCH),
        (_line(currency="EUR"), codes.UNKNOWN_CURRENCY),
    ],
)
def test_each_bad_line_gets_its_reason(raw: bytes, reason: str) -> None:
    # given one bad line / when validated / then it is rejected with its reason, raw kept
    outcome = ae.validate_file(raw + b"\n", source_key="account_events/x.jsonl", now=NOW)
    assert [(r.reason, r.raw) for r in outcome.rejected] == [(reason, raw)]
    assert outcome.accepted == ()


def test_churned_may_have_null_plan_and_seats() -> None:
    line = _line(event_type="churned", plan=None, seats=None, mrr_cents=0)
    outcome = ae.validate_file(line, source_key="k", now=NOW)
    assert len(outcome.accepted) == 1 and not outcome.rejected


def test_duplicates_within_a_file_and_across_files() -> None:
    # given a file with an exact repeat and a conflicting reuse of an event_id
    body = b"\n".join([_line(), _line(), _line(seats=3, mrr_cents=10500), _line(event_id="e-2")])
    outcome = ae.validate_file(body, source_key="f1", now=NOW)
    assert (len(outcome.accepted), outcome.duplicates) == (2, 1)
    assert [r.reason for r in outcome.rejected] == [codes.DUPLICATE_EVENT_ID]
    # when a later file carries e-1 again (same) and e-2 with other content
    first = {a.event.event_id: ae.Landed(a.content_hash, "f1") for a in outcome.accepted}
    later = ae.validate_file(
        b"\n".join([_line(), _line(event_id="e-2", seats=4, mrr_cents=14000)]),
        source_key="f2",
        now=NOW,
    )
    resolved = ae.against_landed(later, first)
    # then the exact re-send is a duplicate and the conflict is quarantined
    assert (len(resolved.accepted), resolved.duplicates) == (0, 1)
    assert [r.reason for r in resolved.rejected] == [codes.DUPLICATE_EVENT_ID]
    # and re-running the first file keeps its own events
    assert len(ae.against_landed(outcome, first).accepted) == 2


# Seed 5 (like seed 1 at the default size) picks a trial_started event for the conflicting
# duplicate: the conflict must still be valid on its own (mrr_cents 0), or it would be
# quarantined as mrr_mismatch instead of duplicate_event_id.
@pytest.mark.parametrize("seed", [5, 7])
def test_generated_files_are_classified_as_truth_says(tmp_path: Path, seed: int) -> None:
    # given a small generated company with its malformed lines and conflicts
    generate(GeneratorConfig(seed=seed, accounts=12, days=40, clicks_per_user_day=0.5), tmp_path)
    truth = json.loads((tmp_path / "truth.json").read_text())
    landed: dict[str, ae.Landed] = {}
    found = []
    accepted = 0
    # when every file is validated in delivery order
    for path in sorted((tmp_path / "account_events").glob("*.jsonl")):
        rel = f"account_events/{path.name}"
        outcome = ae.against_landed(
            ae.validate_file(
                path.read_bytes(), source_key=rel, now=datetime(2027, 1, 1, tzinfo=UTC)
            ),
            landed,
        )
        for item in outcome.accepted:
            landed.setdefault(item.event.event_id, ae.Landed(item.content_hash, rel))
        accepted += len(outcome.accepted)
        found += [(rel, r.line_number, r.reason) for r in outcome.rejected]
        assert outcome.lines == len(outcome.accepted) + outcome.duplicates + len(outcome.rejected)
    # then exactly the listed faults are quarantined, each with its reason
    faults = truth["faults"]
    expected = [
        (f["file"], f["line"], f["reason"])
        for f in faults["malformed_records"] + faults["account_event_conflicts"]
        if f["input"] == "account_events"
    ]
    assert sorted(found) == sorted(expected)
    assert accepted == truth["totals"]["account_events"]["valid_events"]


def test_generated_conflicts_are_valid_events_on_their_own(tmp_path: Path) -> None:
    # given companies whose conflicting duplicate reuses a trial's event_id (seeds 3 and 5 at
    # these sizes, seed 1 at the default size) or a paid event's (seed 7)
    for seed, accounts, days in ((3, 8, 35), (5, 12, 40), (7, 12, 40)):
        out = tmp_path / str(seed)
        config = GeneratorConfig(seed=seed, accounts=accounts, days=days, clicks_per_user_day=0.5)
        generate(config, out)
        truth = json.loads((out / "truth.json").read_text())
        conflicts = truth["faults"]["account_event_conflicts"]
        assert conflicts
        for fault in conflicts:
            # when the conflicting line is validated alone
            raw = (out / fault["file"]).read_bytes().split(b"\n")[fault["line"] - 1]
            result = ae.validate_line(raw, line_number=fault["line"], now=NOW.replace(year=2027))
            # then it passes every check of its own, with the mrr its type requires
            assert isinstance(result, ae.Accepted), (seed, result)
            event = result.event
            assert event.mrr_cents == ae.expected_mrr_cents(
                event.event_type, event.plan, event.seats
            )


def _raw(source_key: str, *lines: bytes) -> pa.Table:
    body = b"\n".join(lines) + b"\n"
    return ae.raw_table(ae.validate_file(body, source_key=source_key, now=NOW))


def test_events_of_an_account_no_event_created_are_quarantined_as_unknown_account() -> None:
    # given acct-0001 created by a subscription, and acct-0009 with a seat change only,
    # landed twice (a re-send in a second file)
    orphan = _line(event_id="e-9", account_id="acct-0009", event_type="seats_changed")
    raw = pa.concat_tables(
        [
            _raw("account_events/2026/09/01/a.jsonl", _line(), orphan),
            _raw("account_events/2026/09/02/b.jsonl", orphan),
        ]
    )
    # when the weekly run splits the landed events
    split = ae.split_unknown_accounts(raw, received_at=NOW)
    # then acct-0001's event is kept and acct-0009's is quarantined once, with its reason
    assert split.known.column("event_id").to_pylist() == ["e-1"]
    assert split.unknown_accounts == ("acct-0009",)
    (row,) = split.quarantined.to_pylist()
    assert row["reason"] == codes.UNKNOWN_ACCOUNT == "unknown_account"
    assert row["source"] == "account_events" and row["pipeline"] == "growth"
    assert row["record_id"] == "account_events/2026/09/01/a.jsonl#e-9"
    assert row["dt"] == "2026-09-15" and row["line_number"] is None
    # and its raw bytes are the event as sent (canonical JSON)
    assert json.loads(row["raw"]) == json.loads(orphan)


def test_an_account_becomes_known_when_its_creating_event_lands_late() -> None:
    # given a seat change landed first, and the account's trial recorded days later
    change = _line(event_id="e-2", event_type="seats_changed", event_time="2026-09-03T10:00:00Z")
    trial = _line(
        event_id="e-1", event_type="trial_started", mrr_cents=0, event_time="2026-09-01T10:00:00Z"
    )
    first = _raw("account_events/2026/09/03/a.jsonl", change)
    # when only the change has landed / then it is quarantined
    assert ae.split_unknown_accounts(first, received_at=NOW).quarantined.num_rows == 1
    # when the trial lands too / then nothing is quarantined and both events are kept
    both = pa.concat_tables([first, _raw("account_events/2026/09/06/b.jsonl", trial)])
    split = ae.split_unknown_accounts(both, received_at=NOW)
    assert split.quarantined.num_rows == 0 and split.unknown_accounts == ()
    assert sorted(split.known.column("event_id").to_pylist()) == ["e-1", "e-2"]


def test_creating_event_types_are_the_lifecycle_models_first_steps() -> None:
    assert {"trial_started", "subscribed"} == definitions.CREATING_EVENT_TYPES
