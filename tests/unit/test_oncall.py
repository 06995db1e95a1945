"""On-call logic: rotation, status text, handover note, acknowledgements, replay plans."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from functions.core import backfills
from functions.core.errors import ConfigurationError, ValidationError
from functions.core.landing import BucketRole
from functions.core.monitor import oncall, oncall_replay
from functions.core.monitor.alarm_inventory import INVENTORY, AlarmSpec, spec
from functions.core.monitor.alarm_inventory.spec import Coverage
from functions.core.monitor.oncall import Ack, AlarmStatus
from functions.core.monitor.oncall_replay import Quarantined
from functions.core.schemas import Pipeline

ROTATION_FILE = Path(__file__).resolve().parents[2] / "config" / "oncall_rotation.json"
PREFIX = "pablo-local"


def _rotation() -> oncall.Rotation:
    return oncall.parse_rotation(
        {
            "anchor_week": "2026-11-02",
            "handover": "Mondays 10:00",
            "pipelines": {
                "engagement": {"team": "DE", "people": ["Ann", "Ben"], "contact": "Cy (SWE)"},
                "growth": {"team": "Accounts Team"},
                "executive": {"team": "DE", "people": ["Dee", "Eve", "Fay"]},
            },
        }
    )


def test_the_weekly_owner_rotates_through_the_list_from_the_anchor_week() -> None:
    # given a rotation anchored on Monday 2026-11-02
    rotation = _rotation()
    # when asked about a Thursday three weeks later
    owners = {d.pipeline: d for d in oncall.duties(rotation, date(2026, 11, 26))}
    # then the week starts on its Monday and the engagement owner is index 3 % 2 = Ben
    engagement = owners[Pipeline.ENGAGEMENT]
    assert engagement.week == date(2026, 11, 23)
    assert engagement.owner == "Ben"
    assert engagement.describe() == "Ben (DE, weekly rotation); contact Cy (SWE)"
    # and growth has no on-call, only working hours
    assert owners[Pipeline.GROWTH].owner is None
    assert owners[Pipeline.GROWTH].describe() == "no on-call (working hours): Accounts Team"


def test_executive_reports_are_watched_in_the_last_week_of_the_month_only() -> None:
    rotation = _rotation()

    def owner(day: date) -> str | None:
        return {d.pipeline: d for d in oncall.duties(rotation, day)}[Pipeline.EXECUTIVE].owner

    # the week of 2026-11-23..29 holds November's last 7 days; 2026-11-09 does not
    assert owner(date(2026, 11, 23)) == "Dee"  # week index 3 of 3 people
    assert owner(date(2026, 11, 9)) is None
    assert oncall.is_month_end(date(2026, 11, 24)) and not oncall.is_month_end(date(2026, 11, 23))


def test_rotation_text_lists_this_week_next_week_and_the_handover() -> None:
    lines = oncall.rotation_lines(_rotation(), date(2026, 11, 26))
    assert lines[0] == "this week (2026-11-23 to 2026-11-29):"
    assert "  engagement  Ben (DE, weekly rotation); contact Cy (SWE)" in lines
    assert "next week (2026-11-30 to 2026-12-06):" in lines
    assert "  engagement  Ann (DE, weekly rotation); contact Cy (SWE)" in lines
    assert lines[-1] == "handover: Mondays 10:00"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"pipelines": {}}, "anchor_week"),
        ({"anchor_week": "2026-11-03", "pipelines": {}}, "not a Monday"),
        ({"anchor_week": "2026-11-02", "pipelines": {"sales": {"team": "x"}}}, "unknown pipeline"),
        ({"anchor_week": "2026-11-02", "pipelines": {"profit": {"team": "BI"}}}, "list its people"),
        ({"anchor_week": "2026-11-02", "pipelines": {"growth": {}}}, "needs a team"),
    ],
)
def test_a_bad_rotation_config_names_its_problem(document: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        oncall.parse_rotation(document)


def test_the_shipped_rotation_covers_every_pipeline_that_has_alarms() -> None:
    rotation = oncall.parse_rotation(json.loads(ROTATION_FILE.read_text()))
    assert oncall.missing_pipelines(rotation) == []
    some = [spec("profit-review-overdue"), spec("click-freshness")]
    assert oncall.missing_pipelines(_rotation(), some) == ["profit"]


def _status(key: str, state: str, since: str, ack: Ack | None = None) -> AlarmStatus:
    return AlarmStatus(f"{PREFIX}-{key}", state, since, ack is None, spec(key), ack)


def test_status_lists_alarm_then_insufficient_data_with_owner_runbook_and_ack() -> None:
    # given three alarms, one OK, one acknowledged
    ack = Ack(
        f"{PREFIX}-click-freshness", "Ann", "producer restarted", "2026-11-25T10:05:00Z", "ALARM"
    )
    statuses = [
        _status("click-stream-silent", "INSUFFICIENT_DATA", "2026-11-25T09:00:00Z"),
        _status("profit-review-overdue", "OK", "2026-11-25T08:00:00Z"),
        _status("click-freshness", "ALARM", "2026-11-25T10:00:00Z", ack),
    ]
    # when the open ones are formatted
    lines = oncall.status_lines(oncall.open_alarms(statuses))
    # then ALARM comes first, with pipeline, response, owners, runbook and the ack
    assert lines[:5] == [
        "ALARM             pablo-local-click-freshness since 2026-11-25T10:00:00Z [muted]",
        "  pipeline engagement; page, pages the on-call (weekly rotation)",
        "  owner Software Frontend Team; secondary Data Engineering Team",
        "  runbook docs/runbooks/engagement.md#click-freshness",
        "  acked by Ann at 2026-11-25T10:05:00Z: producer restarted",
    ]
    assert lines[5].startswith("INSUFFICIENT_DATA pablo-local-click-stream-silent")
    assert lines[-1] == "  not acknowledged"
    assert not any("profit-review-overdue" in line for line in lines)
    assert oncall.status_lines([]) == ["no alarm in ALARM or INSUFFICIENT_DATA"]


def test_status_json_carries_every_field() -> None:
    row = _status("growth-inferred-status-share", "ALARM", "2026-11-25T10:00:00Z").as_dict()
    assert row["pipeline"] == "growth"
    assert row["response"] == "waits for working hours"
    assert row["owner"] == "Accounts Team"
    assert row["runbook"] == "docs/runbooks/growth.md#growth-inferred-status-share"
    assert row["acknowledgement"] is None


def test_an_alarm_name_or_key_maps_to_its_inventory_entry() -> None:
    assert oncall.spec_for_alarm(f"{PREFIX}-click-freshness", PREFIX).key == "click-freshness"
    assert oncall.spec_for_alarm("click-freshness", PREFIX).key == "click-freshness"
    with pytest.raises(ValidationError, match="unknown alarm 'nope'; known: "):
        oncall.spec_for_alarm("nope", PREFIX)


def test_an_ack_needs_a_name_and_round_trips_through_its_item() -> None:
    at = datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
    with pytest.raises(ValidationError, match="--by needs a name"):
        oncall.new_ack("a", by="  ", note="", at=at, state="ALARM")
    ack = oncall.new_ack("a", by=" Ann ", note="on it", at=at, state="ALARM")
    item = ack.item()
    assert (item["pk"], item["sk"]) == ("oncall#ack", "a#2026-11-25T10:05:00Z")
    assert oncall.ack_from_item(item) == ack
    closed = oncall.ack_from_item({**item, "status": "closed", "closed_at": "x"})
    assert oncall.open_ack([closed], "a") is None
    assert oncall.open_ack([closed, ack], "a") == ack


def test_handoff_note_has_owners_alarms_acks_restatements_backfills_and_replays() -> None:
    # given a week with one of each
    rotation, week = _rotation(), date(2026, 11, 23)
    old_closed = Ack("x", "Old", "", "2026-11-01T00:00:00Z", "ALARM", status="closed")
    this_week = Ack(f"{PREFIX}-click-freshness", "Ann", "", "2026-11-24T10:00:00Z", "ALARM")
    note = oncall.Handoff(
        week=week,
        this_week=oncall.duties(rotation, week),
        next_week=oncall.duties(rotation, date(2026, 11, 30)),
        alarms=[_status("click-freshness", "ALARM", "2026-11-24T09:00:00Z", this_week)],
        acks=oncall.week_acks([old_closed, this_week], week),
        restatements=[
            {
                "table_name": "engagement_daily",
                "period": "2026-11-20",
                "key": "acct-1",
                "metric": "clicks",
                "old_value": 10.0,
                "new_value": 12.0,
                "reason": "late_data",
                "run_id": "r1",
            }
        ],
        backfills=[
            {"name": "backfill-1", "state_machine": "daily", "status": "SUCCEEDED", "start": "s"},
            {
                "name": "monthly-2026-10-engagement-backfill-0123456789ab",
                "state_machine": "daily",
                "status": "RUNNING",
                "start": "t",
            },
        ],
        replays=[
            {
                "pipeline": "growth",
                "reason": "unknown_plan",
                "records": 3,
                "by": "Ann",
                "replayed_at": "2026-11-24T11:00:00Z",
            }
        ],
    )
    # when the note is printed
    text = "\n".join(oncall.handoff_lines(note))
    # then every section is there, and an old closed ack is not
    assert text.startswith("# On-call handover, week 2026-11-23 to 2026-11-29")
    assert "- engagement: Ben (DE, weekly rotation); contact Cy (SWE) -> next: Ann" in text
    assert "## Open alarms (1)" in text and "acked by Ann" in text
    assert "## Acknowledgements (1)" in text and "Old" not in text
    assert "engagement_daily 2026-11-20 acct-1 clicks: 10.0 -> 12.0 (late_data, run r1)" in text
    assert "- growth unknown_plan: 3 records by Ann at 2026-11-24T11:00:00Z" in text
    assert "## Backfills (2)" in text
    assert "- backfill-1 (daily; manual): SUCCEEDED, started s" in text
    # and the freshness gate's automatic backfill names the run that started it
    assert (
        "- monthly-2026-10-engagement-backfill-0123456789ab (daily; automatic, by the "
        "freshness gate of monthly-2026-10): RUNNING, started t"
    ) in text


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("backfill-20261001-20261007-20261008T020000Z", backfills.MANUAL),
        ("monthly-2026-10-growth-backfill", backfills.AUTOMATIC),
        ("weekly-2026-10-04-engagement-backfill-0a1b2c3d4e5f", backfills.AUTOMATIC),
        ("monthly-2026-10", None),
        ("scheduled-20261001T020000Z", None),
        ("monthly-2026-10-sales-backfill", None),
    ],
)
def test_backfill_kind_tells_manual_automatic_and_other_executions(
    name: str, kind: str | None
) -> None:
    assert backfills.backfill_kind(name) == kind


def _row(reason: str, raw: bytes, key: str | None, line: int, source: str) -> Quarantined:
    return Quarantined(f"{key}:{line}", source, reason, raw, key, line)


def test_replay_plan_relands_file_lines_under_a_name_derived_from_them() -> None:
    # given two bad lines of an invoices CSV and one of an account-events file
    invoices = "invoices/2026-09/invoices-2026-09.csv"
    events = "account_events/2026/09/14/account_events-2026-09-14.jsonl"
    rows = [
        _row("unknown_currency", b"i2,acct,XXX", invoices, 3, "invoices"),
        _row("unknown_currency", b"i1,acct,XXX", invoices, 2, "invoices"),
        _row("unknown_currency", b'{"a":1}', events, 5, "account_events"),
        _row("other_reason", b"i9", invoices, 9, "invoices"),
    ]
    headers = {invoices: b"invoice_id,account_id,currency\n"}
    # when planned twice, the second time in another order
    plan = oncall_replay.plan_replay(
        rows, reason="unknown_currency", replayed=set(), headers=headers
    )
    again = oncall_replay.plan_replay(
        list(reversed(rows)), reason="unknown_currency", replayed=set(), headers=headers
    )
    # then each original file gets one replay file in its own period folder, same names
    assert [f.key for f in plan.files] == [f.key for f in again.files]
    by_folder = {f.key.rsplit("/", 1)[0]: f for f in plan.files}
    csv = by_folder["invoices/2026-09"]
    assert csv.key.startswith("invoices/2026-09/replay-unknown_currency-")
    assert csv.key.endswith(".csv") and csv.bucket_role is BucketRole.LANDING
    assert csv.body == b"invoice_id,account_id,currency\ni1,acct,XXX\ni2,acct,XXX\n"
    assert by_folder["account_events/2026/09/14"].body == b'{"a":1}\n'
    assert plan.records == 3 and plan.clicks == ()


def test_replay_plan_skips_what_was_replayed_and_refuses_what_it_cannot_reland() -> None:
    click = _row("unknown_event_type", b'{"e":1}', "arn:aws:kinesis:stream", 0, "clicks")
    twin = _row("unknown_event_type", b'{"e":1}', "arn:aws:kinesis:stream", 1, "clicks")
    monthly = _row("unknown_event_type", b"{}", "raw/invoices/month=2026-09/x.parquet", 1, "x")
    unreadable = _row("unknown_event_type", b"a", "expenses/2026-09/e.csv", 2, "expenses")
    plan = oncall_replay.plan_replay(
        [click, twin, monthly, unreadable],
        reason="unknown_event_type",
        replayed=set(),
        headers={"expenses/2026-09/e.csv": None},
    )
    # the same bytes twice are one click; a non-landing row and a header-less CSV are refused
    assert plan.clicks == (click,)
    assert [why for _, why in plan.not_replayable] == [
        "not from a landing file: re-run its pipeline after the fix",
        "header of expenses/2026-09/e.csv unreadable",
    ]
    # and once replayed, nothing is left to send
    done = oncall_replay.plan_replay(
        [click, twin], reason="unknown_event_type", replayed={click.digest}, headers={}
    )
    assert done.records == 0 and done.already_replayed == 2
    assert oncall_replay.replay_lines(done, dry_run=True) == [
        "would re-send 0 records (2 already replayed)"
    ]


def test_an_alarm_state_change_event_is_parsed_or_rejected() -> None:
    event = {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "time": "2026-11-25T10:10:00Z",
        "detail": {
            "alarmName": "a",
            "state": {"value": "OK"},
            "previousState": {"value": "ALARM"},
        },
    }
    change = oncall.parse_state_change(event)
    assert (change.alarm, change.state, change.previous) == ("a", "OK", "ALARM")
    assert change.at == datetime(2026, 11, 25, 10, 10, tzinfo=UTC)
    with pytest.raises(ValidationError, match="not an alarm state change"):
        oncall.parse_state_change({**event, "source": "aws.s3"})
    with pytest.raises(ValidationError, match=r"without detail\.state"):
        oncall.parse_state_change({**event, "detail": {"alarmName": "a"}})


def test_pipelines_without_on_call_have_no_paging_alarms() -> None:
    # the run book: Growth has no on-call and is debugged in working hours
    for item in INVENTORY:
        if item.coverage is Coverage.WORKING_HOURS:
            assert not item.pages, f"{item.key} pages, but {item.pipeline} has no on-call"


RUN_BOOK_SLAS = {
    Pipeline.PROFIT: ("Numbers don't align", "Numbers will be reviewed once a month"),
    Pipeline.GROWTH: ("Data will contain latest account statuses by end of week",),
    Pipeline.ENGAGEMENT: ("Data will arrive within 48hrs", "Issues will be fixed within 1 week"),
    Pipeline.EXECUTIVE: ("Issues will be fixed by end of month",),
}
RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"


@pytest.mark.parametrize(
    ("pipeline", "sla"), [(p, sla) for p, slas in RUN_BOOK_SLAS.items() for sla in slas]
)
def test_every_run_book_sla_is_an_alarm(pipeline: Pipeline, sla: str) -> None:
    assert any(s.pipeline is pipeline and s.sla.startswith(sla) for s in INVENTORY), sla


@pytest.mark.parametrize("item", INVENTORY, ids=lambda s: s.key)
def test_every_alarm_runbook_link_has_its_heading(item: AlarmSpec) -> None:
    page = RUNBOOKS / f"{item.pipeline.value}.md"
    assert page.is_file(), f"{item.runbook} links to {page.name}, which does not exist"
    headings = [
        line[3:].strip() for line in page.read_text().splitlines() if line.startswith("## ")
    ]
    anchor = item.runbook_anchor
    assert anchor in headings, f"{item.runbook} has no heading `## {anchor}`"
