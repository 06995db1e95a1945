"""The engagement part of the demo: how it reads the alarms around the outage and what its
summary says (the replay itself runs in `make demo`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pablo.demo import PhaseTimer, failed_executions, iam_usage_lines
from pablo.demo_parts.engagement import EngagementDemo, _day_ranges, _envelopes, _event_days

OUTAGE = (datetime(2026, 10, 1, 13, tzinfo=UTC), datetime(2026, 10, 4, 16, tzinfo=UTC))


def _section(**changes: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "offered": 100,
        "spilled_during_outage": 20,
        "replayed_after_outage": 20,
        "in": 100,
        "accepted": 90,
        "duplicates_in_batch": 6,
        "quarantined": 4,
        "quarantined_by_reason": {"invalid_json": 1, "too_late": 3},
        "dedup": {
            "rows_landed": 90,
            "rows_kept": 88,
            "natural_duplicates": 6,
            "synthetic_duplicates": 2,
        },
        "restated_days": ["2026-09-01", "2026-09-02", "2026-09-04"],
        "incomplete_days": ["2026-09-29", "2026-10-01"],
        "spilled_by_event_day": {"2026-09-29": 1, "2026-10-01": 19},
        "outage": [t.isoformat() for t in OUTAGE],
        "alarm_states_around_outage": {
            "click-freshness": [
                {"state": "OK", "since": "2026-09-01T00:00:00+00:00"},
                {"state": "ALARM", "since": "2026-10-04T00:00:00+00:00"},
                {"state": "OK", "since": "2026-10-05T00:00:00+00:00"},
            ]
        },
        "freshness_alarm": {
            "fired_at": "2026-10-04T00:00:00+00:00",
            "cleared_at": "2026-10-05T00:00:00+00:00",
            "fired_during_outage": True,
        },
        "max_freshness_hours": 59.1,
        "truth": {
            "natural_duplicate_copies": 6,
            "synthetic_duplicates": 2,
            "too_late": 3,
            "malformed": 1,
        },
    }
    section.update(changes)
    return section


def test_restated_days_are_shown_as_ranges() -> None:
    assert _day_ranges(["2026-09-02", "2026-09-01", "2026-09-04"]) == (
        "2026-09-01..2026-09-02, 2026-09-04"
    )
    assert _day_ranges([]) == ""


def test_the_freshness_alarm_is_reported_firing_in_the_outage_and_clearing_after() -> None:
    # Given the freshness alarm seen OK, then ALARM inside the outage, then OK again
    demo = EngagementDemo(outage=OUTAGE)
    demo.outage_alarms["click-freshness"] = [
        ("OK", "2026-09-01T00:00:00+00:00"),
        ("ALARM", "2026-10-03T18:00:00+00:00"),
        ("OK", "2026-10-05T00:00:00+00:00"),
    ]
    # Then the summary says when it fired, that it was during the outage, and when it cleared
    assert demo._freshness_alarm() == {
        "fired_at": "2026-10-03T18:00:00+00:00",
        "cleared_at": "2026-10-05T00:00:00+00:00",
        "fired_during_outage": True,
    }


def test_a_freshness_alarm_that_never_fired_says_so() -> None:
    demo = EngagementDemo(outage=OUTAGE)
    demo.outage_alarms["click-freshness"] = [("OK", "2026-09-01T00:00:00+00:00")]
    assert demo._freshness_alarm() == {
        "fired_at": None,
        "cleared_at": None,
        "fired_during_outage": False,
    }


def test_the_summary_lines_reconcile_duplicates_with_the_truth() -> None:
    # Given a section whose dedup_daily counts every duplicate (6 natural + 2 synthetic, 6 of
    # them in batch) as the truth does (8)
    lines = EngagementDemo().lines(_section())
    text = "\n".join(lines)
    # Then every figure of the engagement section is on a line
    assert "clicks in 100 (offered 100): accepted 90" in text
    assert "quarantined by reason: invalid_json 1, too_late 3" in text
    assert "duplicates removed 8 (dedup_daily: 6 natural / 2 synthetic" in text
    assert "6 of them in batch" in text
    assert "truth 8 (natural 6, synthetic 2), match" in text
    assert "clicks spilled by event day: 2026-09-29 (1), 2026-10-01 (19)" in text
    assert "restated days (3): 2026-09-01..2026-09-02, 2026-09-04" in text
    assert "fired 2026-10-04T00:00:00+00:00 during the outage" in text
    assert "cleared 2026-10-05T00:00:00+00:00" in text


def test_the_phase_timer_records_each_phase_in_order() -> None:
    timer = PhaseTimer()
    with timer.phase("deploy"):
        pass
    with timer.phase("replay"):
        pass
    assert list(timer.phases) == ["deploy", "replay"]
    assert all(seconds >= 0 for seconds in timer.phases.values())


def test_workflows_whose_executions_did_not_all_succeed_are_named() -> None:
    executions = {
        "pablo-local-growth-weekly": {"SUCCEEDED": 8, "FAILED": 1},
        "pablo-local-profit-monthly": {"SUCCEEDED": 3},
    }
    assert failed_executions(executions) == {"pablo-local-growth-weekly": {"FAILED": 1}}
    assert failed_executions({"pablo-local-profit-monthly": {"SUCCEEDED": 3}}) == {}


def test_restated_days_are_engagement_days_only(monkeypatch: Any) -> None:
    # Given restatements of engagement days, an executive month and an experiment unit day
    rows = [
        {"table_name": "engagement_daily", "period": "2026-09-02"},
        {"table_name": "exec_kpi", "period": "2026-09"},
        {"table_name": "experiment_unit_daily", "period": "exp_a/2026-09-03"},
        {"table_name": "engagement_daily", "period": "2026-09-01"},
    ]
    demo = EngagementDemo()
    monkeypatch.setattr(demo, "_curated", lambda table: pa.Table.from_pylist(rows))
    # When the demo lists the restated days / Then only engagement_daily's, in order
    assert demo._restated_days() == ["2026-09-01", "2026-09-02"]


def test_the_replay_sends_each_record_as_written_and_counts_days_as_the_ingest_decodes(
    tmp_path: Path,
) -> None:
    # Given a replay file: a valid click, a click naming event_id twice, a string record
    day_ms = int(datetime(2026, 9, 2, 10, tzinfo=UTC).timestamp() * 1000)
    good = (
        b'{"event_id":"e1","account_id":"a","user_id":"u","event_type":"click",'
        b'"event_time":' + str(day_ms).encode() + b',"page":"/"}'
    )
    repeated = good.replace(b'"event_id":"e1"', b'"event_id":"e2","event_id":"e3"')
    path = tmp_path / "clicks.replay.jsonl"
    path.write_bytes(
        b'{"send_at":1,"record":' + good + b"}\n"
        b'{"send_at":2,"record":' + repeated + b"}\n"
        b'{"send_at":3,"record":"not json"}\n'
    )
    # When the demo reads it
    sends = list(_envelopes(path))
    # Then every record is the bytes the file holds (the repeated key is not collapsed)
    assert sends == [(1, good), (2, repeated), (3, b"not json")]
    # And only the click the ingest accepts is counted under its event day
    assert _event_days([payload for _, payload in sends]) == {"2026-09-02"}


def test_a_line_that_is_not_an_envelope_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "clicks.replay.jsonl"
    path.write_bytes(b'{"send_at":1,"record":{}}\n{"record":{}}\n')
    with pytest.raises(ValueError, match=r"clicks.replay.jsonl:2: not a replay envelope"):
        list(_envelopes(path))


def test_the_iam_lines_count_roles_refusals_and_unused_grants() -> None:
    # Given the emulator's usage report: two roles, one function's resource-based policy
    usage = {
        "IngestRole": {
            "used": ["s3:PutObject arn:aws:s3:::raw/x"],
            "denied": [],
            "unused": ["s3:DeleteObject arn:aws:s3:::raw/*", "s3:GetObject arn:aws:s3:::raw/*"],
        },
        "WorkflowRole": {"used": [], "denied": ["lambda:InvokeFunction arn:f"], "unused": []},
        "arn:aws:lambda:us-east-1:1:function:f": {
            "used": ["lambda:InvokeFunction arn:rule"],
            "denied": [],
        },
    }
    # Then one line counts them (2 roles, 1 refusal, 2 unused grants), then the details
    assert iam_usage_lines(usage) == [
        "enforced: 2 roles acted (functions, workflows, rule targets), 1 requests refused, "
        "2 grants never used (summary.json iam_usage)",
        "  refused     WorkflowRole: lambda:InvokeFunction arn:f",
        "  unused      IngestRole: s3:DeleteObject, s3:GetObject",
    ]
