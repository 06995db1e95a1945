"""The profit pipeline end to end in the emulator, deployed by the real CDK CLI.

A generated company's September files land in their prefixes; the EventBridge rules run
the finance ingest function; the monthly schedule (day 4, 06:00) runs the workflow; the
injected ledger mismatch makes the month preliminary and raises the Finance alarm;
`pablo finance signoff` records the sign-off, republishes the month and clears the alarm.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from functions.adapters import s3_tables, state_table
from functions.core import schemas
from functions.core.errors import ValidationError
from functions.core.transform import profit_review
from functions.handlers import profit_monthly
from functions.handlers.settings import Buckets
from pablo import finance
from pablo.demo import DemoRun
from pablo.demo_parts.profit import ProfitDemo
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig
from tests.conftest import EmulatorServer
from tests.support import wait_for as shared_wait_for

CLOCK_START = "2026-10-01T00:00:00+00:00"
MONTH = "2026-09"
wait_for = functools.partial(shared_wait_for, timeout=90.0)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("company")
    return out, generate(GeneratorConfig(seed=11, accounts=8, days=35), out)


@pytest.fixture(scope="module")
def landed(deployed_stack: EmulatorServer, company: tuple[Path, dict[str, Any]]) -> EmulatorServer:
    """September's four finance files landed (and the Growth pipeline's account table)."""
    stack, (out, truth) = deployed_stack, company
    s3 = stack.client("s3")
    _drop_ssl_only_denies(stack)
    _send_events_to_eventbridge(stack)
    buckets = _buckets(stack)
    _write_account_events(s3, buckets, truth)
    landing, finance_bucket = stack.outputs["LandingBucketName"], stack.outputs["FinanceBucketName"]
    for source, bucket, root in (
        ("invoices", landing, ""),
        ("expenses", landing, ""),
        ("salaries", finance_bucket, "landing/"),
        ("ledger", finance_bucket, "landing/"),
    ):
        for path in sorted((out / source).glob(f"{MONTH}*.csv")):  # YYYY-MM[-resend].csv
            key = f"{root}{source}/{MONTH}/{source}-{path.stem}.csv"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    for table in (
        schemas.RAW_INVOICES,
        schemas.RAW_EXPENSES,
        schemas.RAW_SALARIES,
        schemas.RAW_LEDGER,
    ):
        wait_for(functools.partial(_row_count, s3, buckets, table), f"{table.name} landed")
    # the mixed-currency invoice file lands nothing but its quarantine rows
    wait_for(
        functools.partial(_quarantined_from, s3, buckets, f"invoices-{MONTH}-resend.csv"),
        "the mixed-currency file quarantined",
    )
    return stack


def _quarantined_from(s3: Any, buckets: Buckets, file_name: str) -> int:
    rows = s3_tables.read_table(s3, bucket=buckets.quarantine, table=schemas.QUARANTINE)
    return sum(1 for key in rows.column("source_key").to_pylist() if key.endswith(file_name))


def _row_count(s3: Any, buckets: Buckets, table: schemas.Table) -> int:
    return s3_tables.read_table(s3, bucket=buckets.for_table(table), table=table).num_rows


def _drop_ssl_only_denies(stack: EmulatorServer) -> None:
    """moto 5.2.5 ignores policy Conditions, so the buckets' SSL-only Deny (conditional on
    aws:SecureTransport=false) denies every request over the emulator's plain HTTP. Drop
    just those statements (workaround until the local deploy stops installing them)."""
    s3 = stack.client("s3")
    for key, bucket in stack.outputs.items():
        if not key.endswith("BucketName"):
            continue
        try:
            policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        except s3.exceptions.ClientError:
            continue
        kept = [
            statement
            for statement in policy["Statement"]
            if "aws:SecureTransport" not in json.dumps(statement.get("Condition", {}))
        ]
        if kept:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**policy, "Statement": kept}))
        else:
            s3.delete_bucket_policy(Bucket=bucket)


def _send_events_to_eventbridge(stack: EmulatorServer) -> None:
    """The template turns EventBridge notifications on for both buckets; moto's
    CloudFormation stores no NotificationConfiguration, so set it through the S3 API
    (workaround until the local deploy does)."""
    s3 = stack.client("s3")
    for key in ("LandingBucketName", "FinanceBucketName"):
        s3.put_bucket_notification_configuration(
            Bucket=stack.outputs[key],
            NotificationConfiguration={"EventBridgeConfiguration": {}},
        )


def _buckets(stack: EmulatorServer) -> Buckets:
    return Buckets(
        raw=stack.outputs["RawBucketName"],
        curated=stack.outputs["CuratedBucketName"],
        finance=stack.outputs["FinanceBucketName"],
        quarantine=stack.outputs["QuarantineBucketName"],
    )


def _write_account_events(s3: Any, buckets: Buckets, truth: dict[str, Any]) -> None:
    """The account table the Growth pipeline lands (only account_id matters here)."""
    at = datetime(2026, 8, 1, tzinfo=UTC)
    rows = [
        {
            "event_id": f"evt-{account}",
            "account_id": account,
            "event_type": "subscribed",
            "event_time": at,
            "plan": "team",
            "seats": 1,
            "mrr_cents": 3500,
            "currency": "USD",
            "recorded_by": "test",
            "source_key": "account_events/2026/08/01/fixture.jsonl",
            "month": "2026-08",
        }
        for account in truth["accounts"]["ids"]
    ]
    table = pa.Table.from_pylist(
        rows, schema=schemas.RAW_ACCOUNT_EVENTS.arrow_schema(with_partitions=True)
    )
    s3_tables.write_partitioned(
        s3,
        bucket=buckets.raw,
        table=schemas.RAW_ACCOUNT_EVENTS,
        rows=table,
        name="profit-test-fixture",
        kms=False,
    )


def _alarm_state(stack: EmulatorServer, key: str) -> str:
    name = f"{stack.outputs['NamePrefix']}-{key}"
    (alarm,) = stack.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    state: str = alarm["StateValue"]
    return state


def _review(stack: EmulatorServer, at: str) -> dict[str, Any]:
    """Invoke the deployed review check as its daily schedule would, at `at`."""
    response = stack.client("lambda").invoke(
        FunctionName=f"{stack.outputs['NamePrefix']}-profit-review",
        Payload=json.dumps({"source": "aws.events", "time": at}).encode(),
    )
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def _month_record(stack: EmulatorServer) -> dict[str, Any] | None:
    return state_table.month_record(
        stack.client("dynamodb"), table=stack.outputs["StateTableName"], month=MONTH
    )


def test_ingest_quarantines_exactly_the_injected_faults(
    landed: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> None:
    _, truth = company
    s3, buckets = landed.client("s3"), _buckets(landed)
    expected = {
        (f["input"], f["line"], f["reason"])
        for f in truth["faults"]["malformed_records"]
        if f["file"].split("/")[1].startswith(MONTH)
        and f["input"] in ("invoices", "expenses", "salaries", "ledger")
        and f["reason"] != "unknown_account"
    }
    found = set()
    for bucket in (buckets.quarantine, buckets.finance):
        rows = s3_tables.read_table(s3, bucket=bucket, table=schemas.QUARANTINE).to_pylist()
        # unknown_account is the monthly run's check, tested with it
        found |= {
            (r["source"], r["line_number"], r["reason"])
            for r in rows
            if r["reason"] != "unknown_account"
        }
    assert found == expected
    # restricted lines stay in the finance bucket
    public = s3_tables.read_table(s3, bucket=buckets.quarantine, table=schemas.QUARANTINE)
    assert not {"salaries", "ledger"} & set(public.column("source").to_pylist())
    salaries_head = s3.head_object(
        Bucket=buckets.finance,
        Key=s3.list_objects_v2(Bucket=buckets.finance, Prefix=schemas.RAW_SALARIES.prefix)[
            "Contents"
        ][0]["Key"],
    )
    assert salaries_head["ServerSideEncryption"] == "aws:kms"


def test_monthly_schedule_flags_the_mismatch_and_signoff_clears_it(
    landed: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> None:
    _, truth = company
    stack = landed
    (fault,) = truth["faults"]["ledger_mismatch"]
    assert fault["month"] == MONTH
    # when the clock passes day 4, 06:00 (the monthly schedule)
    stack.control.advance(
        to=datetime(2026, 10, 4, 6, 30, tzinfo=UTC), by=None, step=None, settle=True
    )
    record = wait_for(lambda: _month_record(stack), "the month's record")
    # then the month is preliminary, with the injected difference on the revenue line
    assert record["publication_status"] == "preliminary"
    s3, buckets = stack.client("s3"), _buckets(stack)
    recon = {
        r["line"]: r
        for r in s3_tables.read_table(
            s3,
            bucket=buckets.finance,
            table=schemas.RECONCILIATION,
            partition_filter={"month": MONTH},
        ).to_pylist()
    }
    assert recon["revenue"]["status"] == "mismatched"
    assert recon["revenue"]["difference_cents"] == fault["difference_cents"]
    # and the month's rows of accounts no creating event created are counted
    unknown = [
        f
        for f in truth["faults"]["malformed_records"]
        if f["reason"] == "unknown_account" and f["id"].split("-")[1] == MONTH.replace("-", "")
    ]
    assert unknown, "the generator injects an unknown account's invoice every month"
    points = stack.client("cloudwatch").get_metric_statistics(
        Namespace=stack.outputs["MetricsNamespace"],
        MetricName=profit_monthly.UNKNOWN_ACCOUNT_METRIC,
        StartTime=datetime(2026, 10, 1, tzinfo=UTC),
        EndTime=datetime(2026, 10, 31, tzinfo=UTC),
        Period=86400,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in points] == [float(len(unknown))]
    assert recon["expenses"]["status"] == recon["salaries"]["status"] == "matched"
    # and the partitions are in the catalog for Athena
    glue = stack.client("glue")
    for table, database in (
        (schemas.PROFIT_MONTHLY, "CuratedDatabaseName"),
        (schemas.RECONCILIATION, "FinanceDatabaseName"),
        (schemas.RAW_SALARIES, "FinanceDatabaseName"),
    ):
        partition = glue.get_partition(
            DatabaseName=stack.outputs[database], TableName=table.name, PartitionValues=[MONTH]
        )["Partition"]
        assert partition["StorageDescriptor"]["Location"].endswith(f"month={MONTH}/")
    (profit_row,) = s3_tables.read_table(
        s3, bucket=buckets.curated, table=schemas.PROFIT_MONTHLY, partition_filter={"month": MONTH}
    ).to_pylist()
    totals = truth["totals"]
    assert profit_row["revenue_cents"] == totals["invoices"]["revenue_cents_by_month"][MONTH]
    assert profit_row["salaries_cents"] == totals["salaries_cents_by_month"][MONTH]
    assert profit_row["publication_status"] == "preliminary"
    # and the Finance alarm fires as the clock moves on
    stack.control.advance(by=timedelta(minutes=10), to=None, step=None, settle=True)
    assert _alarm_state(stack, "profit-reconciliation-mismatch") == "ALARM"

    # and the review check counts it overdue once the review window has passed
    assert _review(stack, "2026-10-05T07:00:00Z")["overdue"] == []
    assert _review(stack, "2026-10-20T07:00:00Z")["overdue"] == [MONTH]

    # when the demo's accountant signs the month off (pablo finance signoff's code path)
    demo = ProfitDemo()
    demo.start(DemoRun(stack.endpoint, stack.outputs, Path("."), Path("."), truth))
    for _ in range(2):  # flags the month and sees the alarm; then signs off
        demo.on_step(stack.control.now())
        stack.control.advance(by=timedelta(minutes=30), to=None, step=None, settle=True)
    demo.on_step(stack.control.now())  # sees the alarm clear
    # then who/when/note are recorded, the month is republished signed off, the alarm clears
    signoff = state_table.signoff(
        stack.client("dynamodb"), table=stack.outputs["StateTableName"], month=MONTH
    )
    assert signoff is not None and signoff["by"] == demo.signoff["by"]
    assert signoff["note"] and signoff["at"] == f"{demo.signed_off_at}"[:19] + "Z"
    assert (_month_record(stack) or {}).get("publication_status") == "signed_off"
    (profit_row,) = s3_tables.read_table(
        s3, bucket=buckets.curated, table=schemas.PROFIT_MONTHLY, partition_filter={"month": MONTH}
    ).to_pylist()
    assert profit_row["publication_status"] == "signed_off"
    assert _alarm_state(stack, "profit-reconciliation-mismatch") == "OK"
    assert _review(stack, "2026-10-20T07:00:00Z")["overdue"] == []
    section = demo.finish()
    assert section["alarm_fired_at"] and section["alarm_cleared_at"] and not section["errors"]
    text = "\n".join(demo.lines(section))
    assert f"{MONTH}: revenue $" in text and "[signed_off]" in text
    assert "revenue mismatched by" in text
    print(text)


def test_signoff_of_a_month_never_computed_is_refused(landed: EmulatorServer) -> None:
    with pytest.raises(finance.SignoffError, match="not been computed"):
        finance.signoff(month="2025-01", by="x", note="y", clients=landed, now=landed.control.now())


def test_signoffs_are_an_append_only_trail_of_the_figures_signed(
    landed: EmulatorServer,
) -> None:
    dynamodb, table = landed.client("dynamodb"), landed.outputs["StateTableName"]
    month, at = "2025-03", datetime(2025, 4, 10, 9, tzinfo=UTC)
    # given Dana signs off March's figures A
    first = state_table.record_signoff(
        dynamodb, table=table, month=month, by="Dana", note="verified", at=at, figures="A"
    )
    # when Lee tries to sign off the same figures A again, it is refused, naming Dana
    with pytest.raises(ValidationError, match="signed off with these figures by Dana"):
        state_table.record_signoff(
            dynamodb,
            table=table,
            month=month,
            by="Lee",
            note="again",
            at=at + timedelta(hours=1),
            figures="A",
        )
    # and once the figures changed to B, Lee's sign-off is a new entry; Dana's is kept
    state_table.record_signoff(
        dynamodb,
        table=table,
        month=month,
        by="Lee",
        note="restated revenue",
        at=at + timedelta(days=1),
        figures="B",
    )
    trail = state_table.signoffs(dynamodb, table=table, month=month)
    assert [(e["by"], e["figures"], e["note"]) for e in trail] == [
        ("Dana", "A", "verified"),
        ("Lee", "B", "restated revenue"),
    ]
    assert trail[0]["at"] == first["at"] == "2025-04-10T09:00:00Z"
    # and only figures B are covered by the latest sign-off
    latest = state_table.signoff(dynamodb, table=table, month=month)
    assert profit_review.signed_off_figures(latest, "B")
    assert not profit_review.signed_off_figures(latest, "A")


def _objects(s3: Any, bucket: str, prefix: str) -> dict[str, tuple[str, Any]]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: (o["ETag"], o["LastModified"]) for o in listing}


def test_resending_a_file_overwrites_its_output_byte_for_byte(
    landed: EmulatorServer, company: tuple[Path, dict[str, Any]]
) -> None:
    out, _ = company
    s3, buckets = landed.client("s3"), _buckets(landed)
    before = _objects(s3, buckets.raw, schemas.RAW_INVOICES.prefix)
    # when the same invoice file is delivered again
    key = f"invoices/{MONTH}/invoices-{MONTH}.csv"
    time.sleep(1.1)  # S3 LastModified has second precision
    s3.put_object(
        Bucket=landed.outputs["LandingBucketName"],
        Key=key,
        Body=(out / "invoices" / f"{MONTH}.csv").read_bytes(),
    )
    after = wait_for(
        lambda: (
            now
            if (now := _objects(s3, buckets.raw, schemas.RAW_INVOICES.prefix)) != before
            else None
        ),
        "the re-ingest",
    )
    # then the same keys hold the same bytes: nothing appended
    assert {k: etag for k, (etag, _) in after.items()} == {
        k: etag for k, (etag, _) in before.items()
    }


def _finished(sfn: Any, arn: str) -> str | None:
    status: str = sfn.describe_execution(executionArn=arn)["status"]
    return None if status == "RUNNING" else status


def test_rerunning_a_month_gives_identical_tables(landed: EmulatorServer) -> None:
    stack = landed
    s3, buckets = stack.client("s3"), _buckets(stack)
    sfn = stack.client("stepfunctions")
    tables = (schemas.PROFIT_MONTHLY, schemas.REVENUE_ACCOUNT_MONTHLY, schemas.EXPENSES_MONTHLY)

    def etags() -> dict[str, str]:
        found: dict[str, str] = {}
        for table in tables:
            prefix = f"{table.prefix}/month={MONTH}/"
            found |= {k: e for k, (e, _) in _objects(s3, buckets.curated, prefix).items()}
        return found

    outputs = []
    for attempt in range(2):
        execution = sfn.start_execution(
            stateMachineArn=stack.outputs["ProfitMonthlyStateMachineArn"],
            name=f"rerun-{MONTH}-{attempt}",
            input=json.dumps({"time": "2026-10-04T08:00:00Z", "month": MONTH}),
        )
        status = wait_for(
            functools.partial(_finished, sfn, execution["executionArn"]), "the re-run"
        )
        assert status == "SUCCEEDED"
        outputs.append(etags())
    assert outputs[0] == outputs[1] and len(outputs[0]) == len(tables)


def test_an_account_with_events_but_no_creating_event_is_not_known(
    landed: EmulatorServer,
) -> None:
    # given the landed accounts (each created by `subscribed`) plus an account whose only
    # landed event is a seat change: it has events, but nothing created it
    s3, buckets = landed.client("s3"), _buckets(landed)
    ghost = {
        "event_id": "evt-ghost",
        "account_id": "acct-ghost",
        "event_type": "seats_changed",
        "event_time": datetime(2026, 8, 2, tzinfo=UTC),
        "plan": "team",
        "seats": 2,
        "mrr_cents": 7000,
        "currency": "USD",
        "recorded_by": "test",
        "source_key": "account_events/2026/08/02/ghost.jsonl",
        "month": "2026-08",
    }
    s3_tables.write_partitioned(
        s3,
        bucket=buckets.raw,
        table=schemas.RAW_ACCOUNT_EVENTS,
        rows=pa.Table.from_pylist(
            [ghost], schema=schemas.RAW_ACCOUNT_EVENTS.arrow_schema(with_partitions=True)
        ),
        name="ghost",
        kms=False,
    )
    # when the profit pipeline reads the account list from the raw bucket
    known = profit_monthly.known_accounts(s3, bucket=buckets.raw)
    # then the ghost account is not among them, the created ones all are
    assert known is not None and "acct-ghost" not in known
    assert "acct-0001" in known
