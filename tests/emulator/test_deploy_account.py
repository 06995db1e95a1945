"""`pablo.local.deploy` takes the account from the target's STS, never a pinned one.

The embedded emulator is started with `MOTO_ACCOUNT_ID` set (moto's server then acts in that
account for every request, as LocalStack acts in 000000000000): the small deploy app
(tests/emulator/deploy_app, which takes its account from the `account` context) goes
through the same `deploy(endpoint, ...)` that `pablo local deploy` calls. A deploy that
synthesized for moto's default 123456789012 is refused by the CDK CLI ("Need to perform AWS
calls for account 123456789012, but the current credentials are for ...").
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pablo.local.context import MOTO_ACCOUNT_ENV
from pablo.local.deploy import assembly_dir, deploy
from tests.conftest import EmulatorServer, start_emulator

APP_SOURCE = Path(__file__).parent / "deploy_app"
STACK = "DeployAccount"
OTHER_ACCOUNT = "210987654321"  # not moto's default 123456789012
REGION = "us-east-1"


@dataclass
class Deployed:
    server: EmulatorServer
    exit_code: int
    report: dict[str, Any]
    template_text: str


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    app_dir = tmp_path_factory.mktemp("deploy-account") / "app"
    shutil.copytree(APP_SOURCE, app_dir, ignore=shutil.ignore_patterns("build", "cdk.out"))
    home = tmp_path_factory.mktemp("pablo-account")
    with start_emulator(home, environment={MOTO_ACCOUNT_ENV: OTHER_ACCOUNT}) as server:
        report_path = app_dir / "fidelity.json"
        exit_code = deploy(
            server.endpoint,
            stack_name=STACK,
            app_dir=app_dir,
            context={"stack_name": STACK},
            report_path=report_path,
        )
        template = assembly_dir(app_dir, server.endpoint) / f"{STACK}.template.json"
        yield Deployed(
            server=server,
            exit_code=exit_code,
            report=json.loads(report_path.read_text()),
            template_text=template.read_text(),
        )


def test_the_emulator_answers_the_configured_account(deployed: Deployed) -> None:
    # Given the emulator started with MOTO_ACCOUNT_ID; then its STS answers that account
    identity = deployed.server.client("sts").get_caller_identity()
    assert identity["Account"] == OTHER_ACCOUNT


def test_the_stack_deploys_into_the_account_sts_answers(deployed: Deployed) -> None:
    # Given the deploy against that emulator
    # Then it completed, and the stack lives in that account
    assert deployed.exit_code == 0
    stack = deployed.server.client("cloudformation").describe_stacks(StackName=STACK)
    assert stack["Stacks"][0]["StackId"].split(":")[4] == OTHER_ACCOUNT
    # And the file assets bucket was named for it (deploy-app-assets-<account>-<region>)
    buckets = {b["Name"] for b in deployed.server.client("s3").list_buckets()["Buckets"]}
    assert f"deploy-app-assets-{OTHER_ACCOUNT}-{REGION}" in buckets
    # And the synthesized template names no other account
    assert "123456789012" not in deployed.template_text


def test_resources_the_deploy_creates_carry_the_account(deployed: Deployed) -> None:
    # Given the kinds moto's CloudFormation skips, created by the deploy itself
    created = {
        row["resource_type"]: row["physical_id"]
        for row in deployed.report["resources"]
        if row["status"] == "created"
    }
    assert "AWS::CloudWatch::Alarm" in created
    # Then the alarm exists in the account, and its action is the stack's topic there
    (alarm,) = deployed.server.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert alarm["AlarmArn"].split(":")[4] == OTHER_ACCOUNT
    assert alarm["AlarmActions"][0].startswith(f"arn:aws:sns:{REGION}:{OTHER_ACCOUNT}:")


def test_the_emulator_evaluates_alarms_in_that_account(deployed: Deployed) -> None:
    # Given the app's alarm: missing data is breaching, one period of one hour
    cloudwatch = deployed.server.client("cloudwatch")
    # When the emulator clock moves two hours with no datapoint
    deployed.server.control.advance(by=timedelta(hours=2))
    # Then the emulator (reading moto's backend of that account) set it to ALARM
    (alarm,) = cloudwatch.describe_alarms()["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
