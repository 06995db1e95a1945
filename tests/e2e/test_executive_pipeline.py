"""The executive workflows end to end in the emulator, deployed by the real CDK CLI.

A small company's September lands as raw inputs (clicks, account events, invoices,
expenses, salaries); the engagement workflow computes September, then a late click makes
a day dirty. The monthly executive run finds every upstream stale (a dirty engagement day,
no growth tables, no profit month), backfills each with its real workflow, waits, and
publishes the month (preliminary: no ledger landed, so profit is unreconciled). The weekly
runs then exercise retries, the on-call message of a failure, the refusal of a second start,
a byte-identical re-run and an upstream that stays stale.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.adapters import s3_objects, s3_tables, state_table
from functions.core import env, schemas
from functions.core.report import executive_layout
from functions.core.report.executive_period import month_period, week_period
from functions.handlers.executive_common import get_work
from pablo import backfill, run
from tests.conftest import EmulatorServer
from tests.support import wait_for as shared_wait_for

CLOCK_START = "2026-10-05T07:00:00+00:00"
MONTH = "2026-09"
LATE_DAY = date(2026, 9, 15)
FAST_GATE = {"wait_seconds": 2, "max_checks": 40}
wait_for = functools.partial(shared_wait_for, timeout=240.0)
# account -> (users, plan seats, MRR cents, subscribed at)
ACCOUNTS = {
    "acct-a": (2, 5, 5000, datetime(2026, 8, 3, tzinfo=UTC)),
    "acct-b": (1, 3, 3000, datetime(2026, 8, 10, tzinfo=UTC)),
    "acct-idle": (0, 2, 2000, datetime(2026, 8, 12, tzinfo=UTC)),  # pays, never clicks
    "acct-new": (1, 4, 4000, datetime(2026, 9, 10, tzinfo=UTC)),
}


# --- fixtures: the company's September as raw inputs -------------------------------------


def _write(
    s3: Any, bucket: str, table: schemas.Table, rows: list[dict[str, Any]], name: str
) -> None:
    data = pa.Table.from_pylist(rows, schema=table.arrow_schema(with_partitions=True))
    s3_tables.write_partitioned(
        s3, bucket=bucket, table=table, rows=data, name=name, kms=table.restricted
    )


def _click(account: str, user: int, at: datetime, n: int) -> dict[str, Any]:
    event_id = hashlib.sha256(f"{account}-{user}-{at.isoformat()}-{n}".encode()).hexdigest()[:32]
    return {
        "event_id": event_id,
        "account_id": account,
        "user_id": f"{account}-u{user}",
        "event_type": "click",
        "event_time": at,
        "page": "home",
        "arrival_time": at + timedelta(seconds=5),
        "shard_id": "shardId-000000000000",
        "sequence_number": str(n),
        "dt": at.date().isoformat(),
    }


def _clicks(day: date) -> list[dict[str, Any]]:
    rows = []
    for account, (users, _, _, since) in ACCOUNTS.items():
        if since.date() > day:
            continue
        for user in range(users):
            start = datetime(day.year, day.month, day.day, 9 + user, tzinfo=UTC)
            rows += [_click(account, user, start + timedelta(minutes=10 * n), n) for n in range(3)]
    return rows


def _account_events() -> list[dict[str, Any]]:
    rows = []
    for account, (_, seats, mrr, since) in ACCOUNTS.items():
        rows.append(
            {
                "event_id": f"evt-{account}",
                "account_id": account,
                "event_type": "subscribed",
                "event_time": since,
                "plan": "team",
                "seats": seats,
                "mrr_cents": mrr,
                "currency": "USD",
                "recorded_by": "test",
                "source_key": "account_events/fixture.jsonl",
                "month": since.strftime("%Y-%m"),
            }
        )
    rows.append(  # acct-b grows in September: expansion MRR
        {
            **rows[1],
            "event_id": "evt-acct-b-seats",
            "event_type": "seats_changed",
            "event_time": datetime(2026, 9, 20, tzinfo=UTC),
            "seats": 4,
            "mrr_cents": 4000,
            "month": MONTH,
        }
    )
    return rows


def _invoices() -> list[dict[str, Any]]:
    rows = []
    for account, (_, _, mrr, since) in ACCOUNTS.items():
        paid = max(since.date(), date(2026, 9, 1)) + timedelta(days=2)
        rows.append(
            {
                "invoice_id": f"inv-{account}-{MONTH}",
                "account_id": account,
                "issued_date": paid - timedelta(days=1),
                "paid_date": paid,
                "period_start": date(2026, 9, 1),
                "period_end": date(2026, 9, 30),
                "amount_cents": mrr,
                "currency": "USD",
                "status": "paid",
                "source_key": "invoices/fixture.csv",
                "month": MONTH,
            }
        )
    return rows


def _expenses_and_salaries() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    expenses = [
        {
            "expense_id": "exp-1",
            "expense_date": date(2026, 9, 5),
            "category": "hosting",
            "team": "engineering",
            "vendor": "cloud",
            "amount_cents": 2500,
            "currency": "USD",
            "account_id": None,
            "source_key": "expenses/fixture.csv",
            "month": MONTH,
        }
    ]
    salaries = [
        {
            "team": "engineering",
            "headcount": 1,
            "amount_cents": 6000,
            "currency": "USD",
            "source_key": "landing/salaries/fixture.csv",
            "month": MONTH,
        }
    ]
    return expenses, salaries


@pytest.fixture(scope="module")
def company(deployed_stack: EmulatorServer) -> Iterator[EmulatorServer]:
    """September's raw inputs landed, engagement computed, then one late click (dirty day)."""
    stack = deployed_stack
    s3, out = stack.client("s3"), stack.outputs
    raw, finance = out["RawBucketName"], out["FinanceBucketName"]
    for day in month_period(MONTH).dates():
        _write(s3, raw, schemas.RAW_CLICKS, _clicks(day), "fixture")
    _write(s3, raw, schemas.RAW_ACCOUNT_EVENTS, _account_events(), "fixture")
    _write(s3, raw, schemas.RAW_INVOICES, _invoices(), "fixture")
    expenses, salaries = _expenses_and_salaries()
    _write(s3, raw, schemas.RAW_EXPENSES, expenses, "fixture")
    _write(s3, finance, schemas.RAW_SALARIES, salaries, "fixture")
    now = stack.control.now()
    backfill.backfill(
        stack.client("stepfunctions"),
        out["EngagementDailyStateMachineArn"],
        month_period(MONTH).dates(),
        now=now,
        chunk_days=10,
        timeout=600,
    )
    late = _click("acct-b", 0, datetime(2026, 9, 15, 20, tzinfo=UTC), 99)
    _write(s3, raw, schemas.RAW_CLICKS, [late], "late-arrival")
    assert state_table.mark_dirty(
        stack.client("dynamodb"),
        table=out["StateTableName"],
        day=LATE_DAY.isoformat(),
        arrived_at=now,
    )
    yield stack


@pytest.fixture(scope="module")
def oncall(company: EmulatorServer) -> Callable[[str], list[dict[str, Any]]]:
    """Every on-call message about one run (an SQS queue subscribed to the topic)."""
    sqs, sns = company.client("sqs"), company.client("sns")
    url = sqs.create_queue(QueueName="executive-test-oncall")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=company.outputs["OnCallTopicArn"], Protocol="sqs", Endpoint=arn)
    seen: list[dict[str, Any]] = []

    def messages(run_id: str) -> list[dict[str, Any]]:
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            for message in batch:
                body = json.loads(message["Body"])
                seen.append({"subject": body.get("Subject"), **json.loads(body["Message"])})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [m for m in seen if m.get("run_id") == run_id]

    return messages


def _machine(stack: EmulatorServer, grain: str) -> str:
    return stack.outputs[run.MACHINE_OUTPUTS[grain]]


def _finish(stack: EmulatorServer, started: run.Started) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    status, described = run.wait(sfn, started.arn, timeout=420)
    assert status != "RUNNING", f"{started.name} still running"
    return described


def _start(stack: EmulatorServer, period: Any, **kwargs: Any) -> run.Started:
    return run.start(
        stack.client("stepfunctions"),
        _machine(stack, period.grain),
        period,
        now=stack.control.now(),
        freshness=FAST_GATE,
        **kwargs,
    )


def _kpi_rows(stack: EmulatorServer, grain: str, period: str) -> list[dict[str, Any]]:
    return s3_tables.read_table(
        stack.client("s3"),
        bucket=stack.outputs["CuratedBucketName"],
        table=schemas.EXEC_KPI,
        partition_filter={"grain": grain, "period": period},
    ).to_pylist()


def _no_nan(row: dict[str, Any]) -> None:
    for name, value in row.items():
        if isinstance(value, float):
            assert math.isfinite(value), f"{name} is {value}"


def _history(stack: EmulatorServer, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = stack.client("stepfunctions").get_execution_history(
        executionArn=arn, maxResults=1000
    )["events"]
    return events


def _report(stack: EmulatorServer, period: Any) -> bytes:
    body: bytes = (
        stack.client("s3")
        .get_object(
            Bucket=stack.outputs["ReportsBucketName"], Key=executive_layout.report_key(period)
        )["Body"]
        .read()
    )
    return body


def _set_faults(stack: EmulatorServer, faults: dict[str, Any] | None) -> None:
    lam = stack.client("lambda")
    name = f"{stack.outputs['NamePrefix']}-executive-kpi"
    variables = dict(lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"])
    variables.pop(env.FAULT_INJECTION, None)
    if faults:
        variables[env.FAULT_INJECTION] = json.dumps(faults)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})


# --- the tests ---------------------------------------------------------------------------


def test_stale_upstreams_are_backfilled_and_the_month_is_published(
    company: EmulatorServer, oncall: Callable[[str], list[dict[str, Any]]]
) -> None:
    stack = company
    period = month_period(MONTH)
    # when the month starts with a dirty engagement day and no growth or profit tables
    started = _start(stack, period)
    described = _finish(stack, started)
    # then it succeeds after each upstream's backfill ran
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert sorted(b["upstream"] for b in _first_backfills(stack, started.arn)) == [
        "engagement",
        "growth",
        "profit",
    ]
    assert output["gate"]["fresh"] is True and output["gate"]["attempt"] > 1
    # and the KPI row says what it should, with no NaN and every null explained
    (row,) = _kpi_rows(stack, "month", MONTH)
    _no_nan(row)
    reasons = dict(row["missing_reasons"])
    for name, value in row.items():
        if value is None and not name.endswith("_fresh_through"):
            assert name in reasons, name
    paid = sum(i["amount_cents"] for i in _invoices())
    assert row["revenue_cents"] == paid == output["join"]["result"]["paid_cents"]
    assert row["mrr_cents"] == 5000 + 4000 + 2000 + 4000
    assert row["mrr_expansion_cents"] == 1000 and row["mrr_new_cents"] == 4000
    assert row["active_accounts"] == 4 and row["new_accounts"] == 1
    assert row["profit_cents"] == paid - 2500 - 6000
    # no ledger landed: the profit month is unreconciled, so the KPIs are preliminary
    assert row["publication_status"] == "preliminary"
    assert row["engagement_fresh_through"] == datetime(2026, 10, 1, tzinfo=UTC)
    # and the report is in the reports bucket
    assert _report(stack, period).lstrip().lower().startswith(b"<!doctype html")
    # and one note (report published), no failure message
    notes = oncall(started.name)
    assert [n["kind"] for n in notes] == ["report_published"]


def _first_backfills(stack: EmulatorServer, arn: str) -> list[dict[str, Any]]:
    for event in _history(stack, arn):
        details = event.get("taskSucceededEventDetails") or {}
        if details.get("resourceType") == "lambda" and '"backfills"' in details.get("output", ""):
            payload = json.loads(details["output"])["Payload"]
            if payload["backfills"]:
                return list(payload["backfills"])
    return []


def test_starting_the_same_month_twice_is_refused(company: EmulatorServer) -> None:
    period = month_period(MONTH)
    with pytest.raises(run.RunRefusedError, match="already started"):
        _start(company, period)
    with pytest.raises(run.RunRefusedError, match="SUCCEEDED"):
        _start(company, period, rerun=True)


def _invoke_starter(stack: EmulatorServer, event: dict[str, Any]) -> dict[str, Any]:
    response = stack.client("lambda").invoke(
        FunctionName=stack.outputs["ExecutiveStarterFunctionName"],
        Payload=json.dumps(event).encode(),
    )
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_the_schedule_finds_the_month_already_started_and_the_check_counts_reports(
    company: EmulatorServer,
) -> None:
    # when the monthly schedule fires after the month was started by hand
    answer = _invoke_starter(
        company, {"action": "start", "grain": "month", "time": "2026-10-05T07:00:00Z"}
    )
    # then it does not start a second run
    assert answer == {"execution": "monthly-2026-09", "started": False, "already_started": True}
    # and the daily check sees September published (preliminary) and last week missing
    check = _invoke_starter(company, {"action": "check", "time": "2026-10-06T09:00:00Z"})
    assert check == {
        "missing": ["weekly-2026-10-04"],
        "preliminary_months": ["2026-09"],
        "restating": [],  # nothing September was built from has changed
    }


def test_a_step_failing_twice_transiently_is_retried_and_the_week_succeeds(
    company: EmulatorServer,
) -> None:
    stack = company
    period = week_period("2026-09-27")
    _set_faults(stack, {"join": {"error": "transient", "times": 2}})
    try:
        started = _start(stack, period)
        described = _finish(stack, started)
    finally:
        _set_faults(stack, None)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    failures = [
        e
        for e in _history(stack, started.arn)
        if e["type"] == "TaskFailed" and "injected fault in join" in json.dumps(e, default=str)
    ]
    assert len(failures) == 2
    (row,) = _kpi_rows(stack, "week", period.name)
    _no_nan(row)
    assert dict(row["missing_reasons"])["revenue_cents"] == "monthly_only"


def test_an_always_failing_step_fails_once_to_oncall_and_a_rerun_is_identical(
    company: EmulatorServer, oncall: Callable[[str], list[dict[str, Any]]]
) -> None:
    stack = company
    period = week_period("2026-09-20")
    _set_faults(stack, {"publish": {"error": "terminal"}})
    try:
        failed = _start(stack, period)
        described = _finish(stack, failed)
    finally:
        _set_faults(stack, None)
    # then the execution FAILED and on-call got exactly one message with the cause
    assert described["status"] == "FAILED"
    messages = oncall(failed.name)
    assert len(messages) == 1 and "injected fault in publish" in messages[0]["cause"]
    assert _kpi_rows(stack, "week", period.name) == []
    report_before = _report(stack, period)
    s3, curated = stack.client("s3"), stack.outputs["CuratedBucketName"]
    staged = get_work(s3, bucket=curated, period=period, name="kpi")
    # when the failed week is re-run
    rerun = _start(stack, period, rerun=True)
    assert rerun.name == f"{period.execution_name}-rerun-1"
    assert _finish(stack, rerun)["status"] == "SUCCEEDED"
    # then the report and the KPI row are byte-identical to the failed run's
    assert _report(stack, period) == report_before
    key = f"{schemas.EXEC_KPI.prefix}/grain=week/period={period.name}/exec_kpi.parquet"
    published = s3_tables.read_table(
        s3,
        bucket=curated,
        table=schemas.EXEC_KPI,
        partition_filter={"grain": "week", "period": period.name},
    )
    assert published.equals(staged.cast(published.schema))
    first = s3.get_object(Bucket=curated, Key=key)["Body"].read()
    s3_tables.write_partitioned(
        s3,
        bucket=curated,
        table=schemas.EXEC_KPI,
        rows=staged.cast(published.schema),
        name=executive_layout.KPI_FILE,
        kms=False,
    )
    assert s3.get_object(Bucket=curated, Key=key)["Body"].read() == first


def test_an_upstream_that_stays_stale_fails_the_run_naming_it(
    company: EmulatorServer, oncall: Callable[[str], list[dict[str, Any]]]
) -> None:
    stack = company
    # a week long before the data: growth's backfill (built relative to now) never covers it
    period = week_period("2026-08-02")
    started = run.start(
        stack.client("stepfunctions"),
        _machine(stack, "week"),
        period,
        now=stack.control.now(),
        freshness={"wait_seconds": 1, "max_checks": 2},
    )
    described = _finish(stack, started)
    assert described["status"] == "FAILED"
    assert described["error"] == "UpstreamStale"
    assert "growth" in described["cause"]
    (message,) = oncall(started.name)
    assert "growth" in message["stale"] and "growth" in message["cause"]


def test_the_demo_part_lists_the_month_and_saves_its_report(
    company: EmulatorServer, tmp_path: Any
) -> None:
    from pablo.demo import DemoRun  # noqa: PLC0415
    from pablo.demo_parts.executive import ExecutiveDemo  # noqa: PLC0415

    demo = ExecutiveDemo()
    demo.start(DemoRun(company.endpoint, company.outputs, tmp_path, tmp_path, {}))
    section = demo.finish()
    assert section["month"]["period"] == MONTH and not section["errors"]
    report = section["reports"]["month"]
    assert report.endswith(f"executive-month-{MONTH}.html")
    with open(report, "rb") as saved:
        assert saved.read() == _report(company, month_period(MONTH))
    text = "\n".join(demo.lines(section))
    assert f"month {MONTH} [preliminary]:" in text and "MRR: $150.00" in text
    assert "report: " in text


def test_late_data_after_publication_is_restated_with_old_new_and_why(
    company: EmulatorServer,
) -> None:
    stack = company
    s3, out = stack.client("s3"), stack.outputs
    period = month_period(MONTH)
    (before,) = _kpi_rows(stack, "month", MONTH)
    # given a new user's click on the 20th, landed after the month was published
    late = _click("acct-a", 7, datetime(2026, 9, 20, 15, tzinfo=UTC), 1)
    _write(s3, out["RawBucketName"], schemas.RAW_CLICKS, [late], "late-after-publication")
    assert state_table.mark_dirty(
        stack.client("dynamodb"),
        table=out["StateTableName"],
        day="2026-09-20",
        arrived_at=stack.control.now(),
    )
    # when the month is restated
    started = _start(stack, period, restate=True)
    assert started.name == f"{period.execution_name}-restate-1"
    assert _finish(stack, started)["status"] == "SUCCEEDED"
    # then the new figures are published and the old ones kept, with why
    (after,) = _kpi_rows(stack, "month", MONTH)
    assert after["mau"] == before["mau"] + 1
    rows = s3_tables.read_table(s3, bucket=out["CuratedBucketName"], table=schemas.RESTATEMENTS)
    restated = {
        r["metric"]: r
        for r in rows.to_pylist()
        if r["table_name"] == "exec_kpi" and r["period"] == MONTH
    }
    assert restated["mau"]["old_value"] == before["mau"]
    assert restated["mau"]["new_value"] == after["mau"]
    assert restated["mau"]["reason"] == "backfill" and restated["mau"]["run_id"] == started.name
    assert "revenue_cents" not in restated  # unchanged figures are not restated


def test_a_published_month_follows_a_changed_input_and_logs_why(
    company: EmulatorServer,
) -> None:
    stack = company
    s3, out = stack.client("s3"), stack.outputs
    curated = out["CuratedBucketName"]
    period = month_period(MONTH)
    (before,) = _kpi_rows(stack, "month", MONTH)
    # given the growth table September was built from changes after publication: a late
    # account event raised acct-b's MRR at the end of September from 3,000 to 3,500
    prefix = f"{schemas.GROWTH_ACCOUNT_MONTHLY.prefix}/month={MONTH}/"
    (key,) = [k for k in s3_objects.list_keys(s3, bucket=curated, prefix=prefix)]
    table = pq.read_table(pa.BufferReader(s3.get_object(Bucket=curated, Key=key)["Body"].read()))
    rows = table.to_pylist()
    for row in rows:
        if row["account_id"] == "acct-b":
            row["mrr_end_cents"] += 500
            row["mrr_expansion_cents"] += 500
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), buffer)
    s3.put_object(Bucket=curated, Key=key, Body=buffer.getvalue().to_pybytes())
    # when the daily check runs
    check = _invoke_starter(stack, {"action": "check", "time": "2026-10-07T09:00:00Z"})
    # then it started the month's next restatement (and one of each week whose days the
    # earlier tests' late clicks changed), which rebuilt the row
    (name,) = [n for n in check["restating"] if n.startswith(f"{period.execution_name}-")]
    assert name.startswith(f"{period.execution_name}-restate-")
    for started in check["restating"]:
        machine = _machine(stack, "month" if started.startswith("monthly-") else "week")
        arn = f"{machine.replace(':stateMachine:', ':execution:')}:{started}"
        status, _ = run.wait(stack.client("stepfunctions"), arn, timeout=420)
        assert status == "SUCCEEDED", started
    (after,) = _kpi_rows(stack, "month", MONTH)
    assert after["mrr_cents"] == before["mrr_cents"] + 500
    # and the change is a restatement with its old and new value and why
    restated = [
        r
        for r in s3_tables.read_table(s3, bucket=curated, table=schemas.RESTATEMENTS).to_pylist()
        if r["run_id"] == name and r["metric"] == "mrr_cents"
    ]
    assert [(r["old_value"], r["new_value"], r["reason"]) for r in restated] == [
        (before["mrr_cents"], before["mrr_cents"] + 500, "late_data")
    ]
    # and a second check finds nothing more to rebuild
    again = _invoke_starter(stack, {"action": "check", "time": "2026-10-08T09:00:00Z"})
    assert again["restating"] == []
