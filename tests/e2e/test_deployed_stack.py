"""The deployed stack, end to end: the real CDK deploy into the emulator, then its APIs.

Runs against the embedded emulator; the same tests run against LocalStack when
PABLO_ENDPOINT is set (the `localstack` parameter, skipped with its reason otherwise).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.core.monitor.alarm_inventory import INVENTORY
from functions.core.schemas import TABLES
from pablo.local.context import local_client
from tests.conftest import STACK_NAME, EmulatorServer
from tests.e2e.conftest import PABLO_ENDPOINT

pytestmark = pytest.mark.e2e

CLOCK_START = "2026-08-31T00:00:00+00:00"


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("localstack", marks=pytest.mark.localstack)],
)
def target(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    """The deployed stack in the embedded emulator, or in LocalStack at PABLO_ENDPOINT."""
    if request.param == "embedded":
        yield request.getfixturevalue("deployed_stack")
        return
    from pablo.local.control import ControlClient  # noqa: PLC0415
    from pablo.local.deploy import deploy  # noqa: PLC0415

    endpoint = os.environ[PABLO_ENDPOINT]
    assert deploy(endpoint, stack_name=STACK_NAME) == 0
    server = EmulatorServer(
        endpoint=endpoint,
        pid=0,
        home=Path.cwd() / ".pablo",
        log_path=Path(os.devnull),
        control=ControlClient(endpoint),
    )
    stack = local_client("cloudformation", endpoint).describe_stacks(StackName=STACK_NAME)
    server.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}
    yield server


def test_every_bucket_output_names_a_live_bucket(target: EmulatorServer) -> None:
    # Given the deployed stack's outputs
    s3 = target.client("s3")
    bucket_outputs = {k: v for k, v in target.outputs.items() if k.endswith("BucketName")}
    # Then every bucket it names exists, including the restricted finance bucket
    assert "FinanceBucketName" in bucket_outputs and "LandingBucketName" in bucket_outputs
    for name in bucket_outputs.values():
        s3.head_bucket(Bucket=name)


def test_the_glue_catalog_is_the_schema_registry(target: EmulatorServer) -> None:
    # Given the Glue databases the stack created (moto's CloudFormation skips them: the
    # local deploy creates them from the same template)
    glue = target.client("glue")
    databases = {
        key.removesuffix("DatabaseName").lower(): value
        for key, value in target.outputs.items()
        if key.endswith("DatabaseName")
    }
    # Then every registry table is there with the registry's columns and partitions
    for table in TABLES:
        live = glue.get_table(DatabaseName=databases[table.database.value], Name=table.name)
        descriptor = live["Table"]["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
            (c.name, c.type) for c in table.columns
        ], table.name
        assert [k["Name"] for k in live["Table"].get("PartitionKeys", [])] == (
            table.partition_names
        )


def test_the_deployed_alarms_are_the_inventory(target: EmulatorServer) -> None:
    alarms = target.client("cloudwatch").describe_alarms()["MetricAlarms"]
    prefix = target.outputs["NamePrefix"]
    assert {a["AlarmName"] for a in alarms} == {f"{prefix}-{s.key}" for s in INVENTORY}
    for alarm in alarms:
        assert target.outputs["OnCallTopicArn"] in alarm["AlarmActions"]


def test_the_fidelity_report_accounts_for_every_resource(target: EmulatorServer) -> None:
    if target.pid == 0:
        pytest.skip("LocalStack deploys natively: no fidelity report")
    report = json.loads((target.home / "local" / "fidelity.json").read_text())
    template = target.client("cloudformation").get_template(StackName=STACK_NAME)
    body = template["TemplateBody"]
    resources = (json.loads(body) if isinstance(body, str) else body)["Resources"]
    reported = json.dumps(report)
    for logical_id in resources:
        assert logical_id in reported, f"{logical_id} missing from the fidelity report"


def test_the_smoke_check_passes_on_the_deployed_stack(target: EmulatorServer) -> None:
    from pablo.smoke import Outcome, smoke_check  # noqa: PLC0415

    # Given the real stack, deployed; when `pablo smoke-check` checks it
    checks = smoke_check(target.client, STACK_NAME)
    # Then nothing fails, and it looked at the stream, the workflows and every alarm
    failed = [f"{c.what}: {c.detail}" for c in checks if c.outcome is Outcome.FAIL]
    assert not failed, failed
    whats = " ".join(c.what for c in checks)
    assert "Kinesis stream" in whats and "state machine" in whats and "S3 bucket" in whats
    (alarms,) = [c for c in checks if c.what == "CloudWatch alarms"]
    assert alarms.detail.startswith(f"all {len(INVENTORY)} present")
