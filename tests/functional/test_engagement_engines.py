"""The daily engagement workflow's two engines on the emulator: the same days through the
real Step Functions definition with the threshold set so each rig's days take one path
(DuckDB in the function, its raw files downloaded to /tmp or, in a third rig, read from S3
as they are scanned; Athena in the pipelines workgroup, the workflow waiting between
checks), and every output must be the same rows and counts. A failed Athena run leaves the
published day as it was."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.core import env, schemas
from functions.core.engagement_state import DAY_PK
from tests.conftest import EmulatorServer
from tests.functional.engagement_support import EngagementRig, build_rig, create_function
from tests.support import function_environment, unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL = REPO_ROOT / "state_machines" / "engagement_daily.asl.json"
EXECUTION_TIMEOUT = 240.0
DUCKDB, ATHENA = "duckdb", "athena"
STREAMED = "duckdb-streamed"  # the DuckDB path reading the raw files from S3
# Settings that send every day one way: no day lands 10^15 bytes, and every day lands one.
SETTINGS = {
    DUCKDB: {env.ATHENA_MIN_RAW_BYTES: str(10**15)},
    ATHENA: {env.ATHENA_MIN_RAW_BYTES: "1"},
    STREAMED: {env.ATHENA_MIN_RAW_BYTES: str(10**15), env.RAW_STAGE_MAX_BYTES: "0"},
}
ENGINE_OF = {DUCKDB: DUCKDB, ATHENA: ATHENA, STREAMED: DUCKDB}
STREAMED_LOG = "raw clicks read from S3"
DAY_TABLES = (
    schemas.CLICKS,
    schemas.DEDUP_DAILY,
    schemas.ENGAGEMENT_USER_DAILY,
    schemas.STREAM_COMPLETENESS,
    schemas.ENGAGEMENT_DAILY,
    schemas.ACTIVE_USERS_DAILY,
)
D1, D2 = date(2026, 10, 1), date(2026, 10, 2)
FIRST_RUN = datetime(2026, 10, 3, 2, tzinfo=UTC)
SECOND_RUN = datetime(2026, 10, 4, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def rigs(emulator_server: EmulatorServer) -> Iterator[dict[str, tuple[EngagementRig, str]]]:
    """One rig (buckets, state table, Glue databases, daily function, workflow) per engine."""
    made = {}
    results = unique_name("athena-results")
    emulator_server.client("s3").create_bucket(Bucket=results)
    for engine, settings in SETTINGS.items():
        rig = build_rig(emulator_server)
        workgroup = unique_name(f"pipelines-{engine}")
        rig.client("athena").create_work_group(
            Name=workgroup,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{results}/{workgroup}/"},
                "EnforceWorkGroupConfiguration": True,
            },
        )
        rig.daily = create_function(
            rig,
            name=f"engagement-daily-{engine}",
            handler="functions.handlers.engagement_daily.handler",
            environment={
                env.ATHENA_WORKGROUP: workgroup,
                env.ATHENA_POLL_SECONDS: "1",
                **settings,
            },
        )
        arn = rig.client("lambda").get_function(FunctionName=rig.daily)["Configuration"][
            "FunctionArn"
        ]
        topic = rig.client("sns").create_topic(Name=unique_name("oncall"))["TopicArn"]
        definition = (
            ASL.read_text().replace("${DailyFunctionArn}", arn).replace("${OnCallTopicArn}", topic)
        )
        role = rig.client("iam").create_role(
            RoleName=unique_name("sfn-role"), AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        machine = rig.client("stepfunctions").create_state_machine(
            name=unique_name(f"engagement-{engine}"), definition=definition, roleArn=role
        )["stateMachineArn"]
        made[engine] = (rig, machine)
    yield made


def _raw(
    event_id: str, at: datetime, user: str, *, arrived: datetime, seq: int, **change: Any
) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "account_id": "acct-1",
        "user_id": user,
        "event_type": "click",
        "event_time": at,
        "page": "/reports",
        "arrival_time": arrived,
        "shard_id": "shardId-000000000000",
        "sequence_number": f"{seq:030d}",
    }
    return row | change


def _put(rig: EngagementRig, key: str, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    rig.client("s3").put_object(Bucket=rig.raw, Key=key, Body=sink.getvalue())


def _land_clicks(rig: EngagementRig, day: date, name: str, rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist(rows, schema=schemas.RAW_CLICKS.arrow_schema())
    _put(rig, f"{schemas.RAW_CLICKS.prefix}/dt={day.isoformat()}/{name}.parquet", table)


def _land_account(rig: EngagementRig, account: str, created: datetime) -> None:
    event = {
        "event_id": f"created-{account}",
        "account_id": account,
        "event_type": "subscribed",
        "event_time": created,
        "plan": "team",
        "seats": 10,
        "mrr_cents": 10_000,
        "currency": "USD",
        "recorded_by": None,
        "source_key": f"account_events/{account}.jsonl",
    }
    table = pa.Table.from_pylist([event], schema=schemas.RAW_ACCOUNT_EVENTS.arrow_schema())
    _put(rig, f"{schemas.RAW_ACCOUNT_EVENTS.prefix}/month={created:%Y-%m}/{account}.parquet", table)


def _land_counts(rig: EngagementRig, day: date, at: datetime) -> None:
    """Producer counts: 4 offered at 10:00, and 3 spilled at 14:00 (an outage hour)."""
    counts = pa.table(
        {
            "producer_id": ["web-1", "web-1"],
            "minute": [at, at + timedelta(hours=4)],
            "sent": [4, 0],
            "spilled": [0, 3],
        },
        schema=schemas.PRODUCER_COUNTS.arrow_schema(),
    )
    _put(rig, f"{schemas.PRODUCER_COUNTS.prefix}/dt={day.isoformat()}/web-1.parquet", counts)


def _first_landing(rig: EngagementRig) -> None:
    """D1: e1 resent (natural), e2 resent with another page (synthetic), e3 three times
    (natural and synthetic), two clicks of acct-new (never created; n2 resent), u1's
    sessions 10:00-10:10 and 11:00, a click with no page; producer counts with an outage.
    D2: two clicks of one user, 40 minutes apart (two sessions)."""
    at = datetime(D1.year, D1.month, D1.day, 10, tzinfo=UTC)
    arrive = at + timedelta(seconds=2)
    _land_account(rig, "acct-1", at - timedelta(days=40))
    _land_clicks(
        rig,
        D1,
        "batch-1",
        [
            _raw("e1", at, "u1", arrived=arrive, seq=1),
            _raw("e2", at + timedelta(minutes=10), "u1", arrived=arrive, seq=2),
            _raw("e3", at + timedelta(hours=1), "u1", arrived=arrive, seq=3, event_type="search"),
            _raw("e4", at + timedelta(hours=2), "u2", arrived=arrive, seq=4, page=None),
            _raw("n1", at, "u7", arrived=arrive, seq=5, account_id="acct-new"),
            _raw(
                "n2", at + timedelta(minutes=5), "u7", arrived=arrive, seq=6, account_id="acct-new"
            ),
        ],
    )
    later = arrive + timedelta(minutes=30)
    _land_clicks(
        rig,
        D1,
        "batch-2",
        [
            _raw("e1", at, "u1", arrived=later, seq=7),
            _raw("e2", at + timedelta(minutes=10), "u1", arrived=later, seq=8, page="/other"),
            _raw("e3", at + timedelta(hours=1), "u1", arrived=later, seq=9, event_type="search"),
            _raw("e3", at + timedelta(hours=1), "u1", arrived=later, seq=10, event_type="export"),
            _raw(
                "n2", at + timedelta(minutes=5), "u7", arrived=later, seq=11, account_id="acct-new"
            ),
        ],
    )
    _land_counts(rig, D1, at)
    at2 = datetime(D2.year, D2.month, D2.day, 9, tzinfo=UTC)
    _land_clicks(
        rig,
        D2,
        "batch-1",
        [
            _raw("f1", at2, "u3", arrived=at2, seq=12, event_type="login"),
            _raw("f2", at2 + timedelta(minutes=40), "u3", arrived=at2, seq=13),
        ],
    )


def _late_landing(rig: EngagementRig) -> None:
    """After the first run: a late click of D1 (u4), a late copy of e4 (a natural duplicate
    counted late), and acct-new's creating event (its clicks now count)."""
    at = datetime(D1.year, D1.month, D1.day, 10, tzinfo=UTC)
    late = FIRST_RUN + timedelta(hours=3)
    _land_clicks(
        rig,
        D1,
        "batch-late",
        [
            _raw("e5", at + timedelta(hours=3), "u4", arrived=late, seq=14, event_type="share"),
            _raw("e4", at + timedelta(hours=2), "u2", arrived=late, seq=15, page=None),
        ],
    )
    _land_account(rig, "acct-new", at - timedelta(days=1))


def _run(rig: EngagementRig, machine: str, run_input: dict[str, Any]) -> dict[str, Any]:
    sfn = rig.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=machine, name=unique_name("run"), input=json.dumps(run_input)
    )["executionArn"]
    deadline = time.monotonic() + EXECUTION_TIMEOUT
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return {
                "status": described["status"],
                "output": json.loads(described.get("output") or "null"),
                "history": sfn.get_execution_history(executionArn=execution)["events"],
            }
        time.sleep(0.3)
    raise AssertionError("the workflow did not finish in time")


def _succeeded(rig: EngagementRig, machine: str, run_input: dict[str, Any]) -> dict[str, Any]:
    run = _run(rig, machine, run_input)
    failures = [
        {k: v for k, v in e.items() if k.endswith("EventDetails")}
        for e in run["history"]
        if "Failed" in e["type"]
    ]
    assert run["status"] == "SUCCEEDED", failures
    return run


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _engines_used(run: dict[str, Any]) -> set[str]:
    """The states a run entered: which engine computed its days."""
    entered = {
        e["stateEnteredEventDetails"]["name"]
        for e in run["history"]
        if "stateEnteredEventDetails" in e
    }
    used = set()
    if "AggregateDay" in entered:
        used.add(DUCKDB)
    if "AthenaStart" in entered:
        used.add(ATHENA)
    return used


def _sorted_rows(rig: EngagementRig, bucket: str, prefix: str) -> list[dict[str, Any]]:
    table = rig.read(bucket, prefix)
    rows = table.to_pylist() if table.num_columns else []
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def _outputs(rig: EngagementRig) -> dict[str, Any]:
    """Every output of the engagement days, as sorted rows (engine-independent)."""
    found: dict[str, Any] = {}
    for table in DAY_TABLES:
        for day in (D1, D2):
            found[f"{table.name}/{day}"] = _sorted_rows(
                rig, rig.curated, f"{table.prefix}/dt={day.isoformat()}/"
            )
    found["quarantine"] = [
        {k: v for k, v in r.items() if k != "received_at"}
        for r in _sorted_rows(rig, rig.quarantine, f"{schemas.QUARANTINE.prefix}/")
    ]
    found["restatements"] = _sorted_rows(rig, rig.curated, f"{schemas.RESTATEMENTS.prefix}/")
    items = rig.client("dynamodb").query(
        TableName=rig.state_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": DAY_PK}},
    )["Items"]
    found["state"] = sorted(
        ({k: v for k, v in i.items() if k != "run_id"} for i in items), key=lambda i: i["sk"]["S"]
    )
    return found


def _logged(rig: EngagementRig, text: str) -> int:
    """How many log lines of the rig's daily function contain `text`."""
    events = rig.client("logs").filter_log_events(
        logGroupName=f"/aws/lambda/{rig.daily}", filterPattern=f'"{text}"'
    )["events"]
    return len(events)


def _day_summaries(run: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(run["output"]["days"], key=lambda d: d["day"])


def test_both_engines_give_the_same_rows_and_counts_on_the_same_days(
    rigs: dict[str, tuple[EngagementRig, str]],
) -> None:
    # given the same raw clicks, account events and producer counts landed in each rig
    for rig, _ in rigs.values():
        _first_landing(rig)
    # when each rig's workflow computes D1 and D2, then, after late data, D1 again
    first, second = {}, {}
    for engine, (rig, machine) in rigs.items():
        first[engine] = _succeeded(
            rig, machine, {"time": _stamp(FIRST_RUN), "days": [str(D1), str(D2)], "run_id": "r1"}
        )
        _late_landing(rig)
        second[engine] = _succeeded(
            rig, machine, {"time": _stamp(SECOND_RUN), "days": [str(D1)], "run_id": "r2"}
        )
    # then each rig took its engine for every day, the streamed one reading S3 each time
    for engine in rigs:
        assert _engines_used(first[engine]) == _engines_used(second[engine]) == {ENGINE_OF[engine]}
    assert {e: _logged(rigs[e][0], STREAMED_LOG) for e in (DUCKDB, STREAMED)} == {
        DUCKDB: 0,
        STREAMED: 3,
    }
    # and the workflows' summaries of the days are the same
    for runs in (first, second):
        assert _day_summaries(runs[DUCKDB]) == _day_summaries(runs[ATHENA])
        assert _day_summaries(runs[DUCKDB]) == _day_summaries(runs[STREAMED])
    # and every output table, quarantine, restatement and day state is the same rows
    duck, athena, streamed = (_outputs(rigs[e][0]) for e in (DUCKDB, ATHENA, STREAMED))
    for name in duck:
        assert duck[name] == athena[name] == streamed[name], name

    # and the figures are the hand-computed ones. First run, D1: landed 11 = kept 4 (e1-e4)
    # + natural 3 (e1, e3's search, n2) + synthetic 2 (e2, e3's export) + unknown 2 (n1, n2)
    d1_first = _day_summaries(first[ATHENA])[0]
    assert (
        d1_first["rows_landed"],
        d1_first["clicks"],
        d1_first["natural_duplicates"],
        d1_first["synthetic_duplicates"],
        d1_first["unknown_account_clicks"],
    ) == (11, 4, 3, 2, 2)
    assert (d1_first["complete"], d1_first["restatements"]) == (False, 0)
    # second run, D1: 13 landed = kept 7 (e1-e5, n1, n2) + natural 4 (the late e4 copy too)
    # + synthetic 2; two late rows (e5 and e4's copy arrived after D1 was first aggregated);
    # the restated values logged
    d1_second = _day_summaries(second[ATHENA])[0]
    assert (
        d1_second["rows_landed"],
        d1_second["clicks"],
        d1_second["natural_duplicates"],
        d1_second["late_rows"],
        d1_second["unknown_account_clicks"],
    ) == (13, 7, 4, 2, 0)
    assert d1_second["restatements"] > 0
    daily = {r["account_id"]: r for r in duck[f"engagement_daily/{D1}"]}
    assert sorted(daily) == ["acct-1", "acct-new"]
    # acct-1: u1 (10:00, 10:10, 11:00: 2 sessions, 600 s), u2 (12:00), u4 (13:00)
    assert (daily["acct-1"]["active_users"], daily["acct-1"]["sessions"]) == (3, 4)
    assert daily["acct-1"]["session_hours"] == pytest.approx(600 / 3600)
    assert (daily["acct-new"]["clicks"], daily["acct-new"]["sessions"]) == (2, 1)
    assert duck["quarantine"] == []  # acct-new's clicks left quarantine once it was created
    restated = {
        (r["key"], r["metric"], r["old_value"], r["new_value"]) for r in duck["restatements"]
    }
    assert ("acct-1", "clicks", 4.0, 5.0) in restated
    assert ("acct-new", "clicks", None, 2.0) in restated
    # and each day of each table holds one version, the one its Glue partition points at
    for rig, _ in rigs.values():
        glue = rig.client("glue")
        for table in DAY_TABLES[:-1]:
            location = glue.get_partition(
                DatabaseName=rig.curated_database,
                TableName=table.name,
                PartitionValues=[D1.isoformat()],
            )["Partition"]["StorageDescriptor"]["Location"]
            keys = rig.keys(rig.curated, f"{table.prefix}/dt={D1.isoformat()}/")
            assert keys and all(f"s3://{rig.curated}/{k}".startswith(location) for k in keys)
        # and no working table of the Athena runs is left in the catalog
        tables = glue.get_tables(DatabaseName=rig.curated_database)["TableList"]
        assert {t["Name"] for t in tables} == {
            t.name for t in schemas.tables_in(schemas.Database.CURATED)
        }


# The step that computes the day on each engine, and the one that cleans up after it fails.
FAILING_STEPS = {DUCKDB: ("AggregateDay", None), ATHENA: ("AthenaAdvance", "AthenaDiscard")}


@pytest.mark.parametrize("engine", [DUCKDB, ATHENA])
def test_a_failed_run_leaves_the_published_day_in_place(
    rigs: dict[str, tuple[EngagementRig, str]], engine: str
) -> None:
    rig, machine = rigs[engine]
    day = date(2026, 10, 5) if engine == ATHENA else date(2026, 10, 7)
    at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
    _land_account(rig, "acct-1", at - timedelta(days=40))
    _land_clicks(rig, day, "batch-1", [_raw("g1", at, "u1", arrived=at, seq=20)])
    run_time = datetime(2026, 10, 6, 2, tzinfo=UTC)
    # given the day published once on Athena
    _succeeded(rig, machine, {"time": _stamp(run_time), "days": [str(day)], "run_id": "ok"})
    glue = rig.client("glue")

    def published() -> dict[str, Any]:
        found = {}
        for table in DAY_TABLES[:-1]:
            partition = glue.get_partition(
                DatabaseName=rig.curated_database,
                TableName=table.name,
                PartitionValues=[day.isoformat()],
            )["Partition"]
            keys = rig.keys(rig.curated, f"{table.prefix}/dt={day.isoformat()}/")
            found[table.name] = (partition["StorageDescriptor"]["Location"], keys)
        return found

    before = published()
    daily_before = rig.read(rig.curated, f"{schemas.ENGAGEMENT_DAILY.prefix}/dt={day}/")
    # when a later click lands and the next run fails after it wrote a new version (the
    # day's producer counts are not Parquet: the step that reads them fails; on DuckDB the
    # clicks are written by then, on Athena every table)
    _land_clicks(rig, day, "batch-2", [_raw("g2", at, "u2", arrived=at, seq=21)])
    rig.client("s3").put_object(
        Bucket=rig.raw,
        Key=f"{schemas.PRODUCER_COUNTS.prefix}/dt={day.isoformat()}/broken.parquet",
        Body=b"not parquet",
    )
    failed = _run(
        rig,
        machine,
        {"time": _stamp(run_time + timedelta(hours=1)), "days": [str(day)], "run_id": "bad"},
    )
    # then the run failed in its engine's step, which discarded what it wrote
    assert failed["status"] == "FAILED"
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in failed["history"]
        if "stateEnteredEventDetails" in e
    ]
    step, cleanup = FAILING_STEPS[engine]
    other_step, _ = FAILING_STEPS[ATHENA if engine == DUCKDB else DUCKDB]
    assert step in entered and other_step not in entered
    assert cleanup is None or cleanup in entered
    # and every table's partition points where it did, at the same files, with the same rows
    assert published() == before
    assert rig.read(rig.curated, f"{schemas.ENGAGEMENT_DAILY.prefix}/dt={day}/").equals(
        daily_before
    )
    # and the failed run's working tables were dropped
    tables = glue.get_tables(DatabaseName=rig.curated_database)["TableList"]
    assert {t["Name"] for t in tables} == {
        t.name for t in schemas.tables_in(schemas.Database.CURATED)
    }


RETRIED_DAYS = {DUCKDB: date(2026, 10, 9), ATHENA: date(2026, 10, 15)}


@pytest.mark.parametrize("engine", [DUCKDB, ATHENA])
def test_a_run_retried_after_its_publish_still_records_its_restatements(
    rigs: dict[str, tuple[EngagementRig, str]], engine: str
) -> None:
    rig, machine = rigs[engine]
    day = RETRIED_DAYS[engine]
    at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
    _land_account(rig, "acct-1", at - timedelta(days=40))
    _land_clicks(rig, day, "batch-1", [_raw("r1", at, "u1", arrived=at, seq=30)])
    run_time = at + timedelta(days=1)
    # given the day published with one user
    _succeeded(rig, machine, {"time": _stamp(run_time), "days": [str(day)], "run_id": "first"})
    # when a late click of a second user lands, and the next run fails after it published
    # (the quarantine bucket its last steps write to is not there)...
    later = at + timedelta(hours=1)
    _land_clicks(rig, day, "batch-2", [_raw("r2", later, "u2", arrived=run_time, seq=31)])
    retry = {"time": _stamp(run_time + timedelta(hours=1)), "days": [str(day)], "run_id": "late"}
    with function_environment(rig, rig.daily, {env.QUARANTINE_BUCKET: unique_name("gone")}):
        assert _run(rig, machine, retry)["status"] == "FAILED"
    daily = rig.read(rig.curated, f"{schemas.ENGAGEMENT_DAILY.prefix}/dt={day}/").to_pylist()
    assert [(r["active_users"], r["clicks"]) for r in daily] == [(2, 2)]
    # ... is retried with the same input and fails again, this time before publishing (the
    # day's producer counts are not Parquet), and is retried once more
    broken = f"{schemas.PRODUCER_COUNTS.prefix}/dt={day.isoformat()}/broken.parquet"
    rig.client("s3").put_object(Bucket=rig.raw, Key=broken, Body=b"not parquet")
    assert _run(rig, machine, retry)["status"] == "FAILED"
    rig.client("s3").delete_object(Bucket=rig.raw, Key=broken)
    _succeeded(rig, machine, retry)
    # then the late click's changes are recorded, once, by the run that made them (the
    # attempt that failed before publishing took back only what it wrote itself)
    restated = [
        r
        for r in _sorted_rows(rig, rig.curated, f"{schemas.RESTATEMENTS.prefix}/")
        if r["period"] == day.isoformat()
    ]
    changes = {(r["metric"], r["old_value"], r["new_value"]) for r in restated}
    assert {("active_users", 1.0, 2.0), ("clicks", 1.0, 2.0)} <= changes
    assert len(changes) == len(restated)
    assert {r["run_id"] for r in restated} == {"late"}
