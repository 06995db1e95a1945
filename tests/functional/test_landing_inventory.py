"""The landing inventory function, deployed from the `functions` package into the emulator
and fed by a real EventBridge rule on a bucket with EventBridge notifications."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from functions.core import env
from functions.core.times import format_seconds
from tests.emulator.test_event_targets import (
    TargetsEmulator,
    assert_emulator_time,
    eventbridge_bucket,
    object_created_rule,
    parse_time,
    targets_emulator,
    wait_for,
)
from tests.support import deploy_functions_package, state_table

__all__ = ["targets_emulator"]  # the module-scoped emulator fixture, shared

HANDLER = "functions.handlers.landing_inventory.handler"
NAMESPACE = "PabloTest/Landing"


@dataclass(frozen=True)
class Deployed:
    emulator: TargetsEmulator
    function: str
    table: str
    landing: str
    finance: str

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self.emulator.client("dynamodb").get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item = found.get("Item")
        return {k: next(iter(v.values())) for k, v in item.items()} if item else None

    def wait_item(self, pk: str, sk: str) -> dict[str, Any]:
        return wait_for(lambda: self.item(pk, sk), f"state item {pk} / {sk}")

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        response = self.emulator.client("lambda").invoke(
            FunctionName=self.function, Payload=json.dumps(event).encode()
        )
        body: dict[str, Any] = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, body
        return body


@pytest.fixture(scope="module")
def deployed(targets_emulator: TargetsEmulator) -> Iterator[Deployed]:
    """The function with the handler and environment the CDK construct gives it."""
    emulator = targets_emulator
    table = state_table(emulator.client("dynamodb"))
    landing = eventbridge_bucket(emulator, "landing")
    finance = eventbridge_bucket(emulator, "finance")
    created = deploy_functions_package(
        emulator,
        name="landing-inventory",
        handler=HANDLER,
        environment={
            env.STATE_TABLE: table,
            env.LANDING_BUCKET: landing,
            env.FINANCE_BUCKET: finance,
            env.METRICS_NAMESPACE: NAMESPACE,
            env.POWERTOOLS_SERVICE_NAME: "landing-inventory",
        },
        timeout=30,
    )
    function, arn = created["FunctionName"], created["FunctionArn"]
    object_created_rule(emulator, landing, [{"Id": "inventory", "Arn": arn}])
    yield Deployed(emulator, function, table, landing, finance)


def test_landed_file_is_recorded_at_the_emulator_time_and_freshness_follows(
    deployed: Deployed,
) -> None:
    key = "account_events/2026/09/02/x.jsonl"
    # when a file of a contract lands
    before = deployed.emulator.now()
    deployed.emulator.client("s3").put_object(Bucket=deployed.landing, Key=key, Body=b"{}\n")
    after = deployed.emulator.now()

    # then it is recorded under its source and day, at the emulator's time
    record = deployed.wait_item("landing#account_events", f"2026-09-02#{key}")
    assert record["source"] == "account_events" and record["period"] == "2026-09-02"
    assert record["bucket"] == deployed.landing and record["key"] == key
    assert record["size"] == "3" and record["etag"]
    assert_emulator_time(record["landed_at"], before, after)
    # and the source's freshness is that time
    freshness = deployed.wait_item("freshness#account_events", "latest")
    assert freshness["landed_at"] == record["landed_at"] and freshness["key"] == key
    # and the landing was counted in CloudWatch at that time (the function's last call:
    # waited for, like the items)
    landed_at = parse_time(record["landed_at"])

    def landed_count() -> float:
        stats = deployed.emulator.client("cloudwatch").get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName="LandedFiles",
            Dimensions=[{"Name": "Source", "Value": "account_events"}],
            StartTime=landed_at.replace(second=0),
            EndTime=landed_at.replace(second=59),
            Period=60,
            Statistics=["Sum"],
        )
        return float(sum(p["Sum"] for p in stats["Datapoints"]))

    assert wait_for(landed_count, "the LandedFiles datapoint") == 1


@pytest.mark.parametrize(
    ("key", "reason"),
    [("misc/readme.txt", "unknown_source"), ("invoices/2026-13/jan.csv", "bad_period")],
)
def test_file_matching_no_contract_is_recorded_as_unclassified_with_its_reason(
    deployed: Deployed, key: str, reason: str
) -> None:
    # when a file no contract describes lands
    deployed.emulator.client("s3").put_object(Bucket=deployed.landing, Key=key, Body=b"x")

    # then it is kept in the inventory with the reason, not dropped
    record = deployed.wait_item("landing#unclassified", f"{deployed.landing}#{key}")
    assert record["reason"] == reason and record["key"] == key


def test_redelivered_and_late_events_neither_duplicate_nor_move_freshness_back(
    deployed: Deployed,
) -> None:
    # given an invoice file recorded through the rule
    key = "invoices/2026-09/sept.csv"
    deployed.emulator.client("s3").put_object(Bucket=deployed.landing, Key=key, Body=b"a,b\n")
    record = deployed.wait_item("landing#invoices", f"2026-09#{key}")
    fresh = deployed.wait_item("freshness#invoices", "latest")

    # when the same event is delivered again, and an older file's event arrives late
    event = _object_created(deployed.landing, key, record["landed_at"])
    again = deployed.invoke(event)
    late_time = format_seconds(datetime.fromisoformat("2026-08-31T23:00:00+00:00"))
    late = deployed.invoke(_object_created(deployed.landing, "invoices/2026-08/aug.csv", late_time))

    # then the redelivery rewrote the same item, and freshness kept the newest time
    assert again == {
        "status": "recorded",
        "pk": "landing#invoices",
        "sk": f"2026-09#{key}",
        "freshness_advanced": False,
    }
    assert late["freshness_advanced"] is False
    items = deployed.emulator.client("dynamodb").query(
        TableName=deployed.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "landing#invoices"}},
    )["Items"]
    assert sorted(i["sk"]["S"] for i in items) == [
        "2026-08#invoices/2026-08/aug.csv",
        f"2026-09#{key}",
    ]
    assert deployed.item("freshness#invoices", "latest") == fresh


def test_event_that_is_not_an_s3_object_created_is_rejected_with_a_reason(
    deployed: Deployed,
) -> None:
    result = deployed.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})
    assert result["status"] == "rejected" and result["reason"] == "bad_event"


def _object_created(bucket: str, key: str, time: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5d0a6c4e-0000-0000-0000-000000000000",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 4, "etag": "abc", "sequencer": "00"},
            "reason": "PutObject",
        },
    }
