"""`pablo.local.deploy` against moto: the real CDK CLI, then what moto skips.

A small CDK app (tests/emulator/deploy_app) with every kind of resource moto's
CloudFormation skips is deployed twice (the second time unchanged) into a moto server
process (stock but for its resource map's lock), then once more as a second stack through
`cdk bootstrap` (default synthesizer). Everything is checked through the services' own APIs.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pablo.local.context import local_client
from pablo.local.deploy import assembly_dir, deploy
from tests.support import free_port

APP_SOURCE = Path(__file__).parent / "deploy_app"
STACK = "DeployApp"
BOOTSTRAPPED_STACK = "DeployAppBoot"
PATCHED_MOTO_SERVER = """
import sys
from moto.server import main
from pablo.local.moto_patches import cloudformation, registry
registry.apply(cloudformation.RESOURCE_MAP_THREAD_SAFE)
main(sys.argv[1:])
"""


@contextlib.contextmanager
def _moto_server(log_dir: Path) -> Iterator[str]:
    """A moto server in its own process with one emulator patch, what deploy must handle.

    The patch is the thread-safe resource map (moto_patches.cloudformation): without it, the
    CDK CLI's polling races moto's lazy creation of the stack's resources, and now and then
    a policy is left without a physical id or a state machine is created twice (its rule
    targeting the copy the stack does not list); under load, three deploys in a row."""
    port = free_port()
    log = (log_dir / "moto.log").open("wb")
    command = [sys.executable, "-c", PATCHED_MOTO_SERVER, "-H", "localhost", "-p", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                local_client("s3", endpoint).list_buckets()
                break
            except Exception:
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[contextlib.ExitStack]:
    """Keeps every moto server the module started running until the module ends."""
    with contextlib.ExitStack() as stack:
        yield stack


@dataclass
class Deployment:
    endpoint: str
    app_dir: Path
    exit_code: int
    report: dict[str, Any]
    template: dict[str, Any]

    def client(self, service: str) -> Any:
        return local_client(service, self.endpoint)

    def physical(self, construct_id: str) -> str:
        """The physical id of the construct's resource (logical id: the id + 8 hex digits)."""
        resources = self.client("cloudformation").describe_stack_resources(StackName=STACK)
        for resource in resources["StackResources"]:
            if re.fullmatch(f"{construct_id}[0-9A-F]{{8}}", resource.get("LogicalResourceId", "")):
                return str(resource["PhysicalResourceId"])
        raise AssertionError(f"no deployed resource {construct_id}")


def _deploy(endpoint: str, app_dir: Path, stack: str, **context: str) -> Deployment:
    report_path = app_dir / f"fidelity-{stack}.json"
    exit_code = deploy(
        endpoint,
        stack_name=stack,
        app_dir=app_dir,
        context={"stack_name": stack, **context},
        report_path=report_path,
    )
    template_path = assembly_dir(app_dir, endpoint) / f"{stack}.template.json"
    return Deployment(
        endpoint=endpoint,
        app_dir=app_dir,
        exit_code=exit_code,
        report=json.loads(report_path.read_text()),
        template=json.loads(template_path.read_text()),
    )


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("deploy-app") / "app"
    shutil.copytree(APP_SOURCE, target, ignore=shutil.ignore_patterns("build", "cdk.out"))
    return target


@pytest.fixture(scope="module")
def first(
    servers: contextlib.ExitStack, app_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Deployment:
    """The app deployed once."""
    endpoint = servers.enter_context(_moto_server(tmp_path_factory.mktemp("moto")))
    return _deploy(endpoint, app_dir, STACK)


@pytest.fixture(scope="module")
def second(first: Deployment) -> tuple[Deployment, dict[str, int], dict[str, str]]:
    """The same app deployed again, with resource counts and code hashes from before."""
    before = _inventory(first), _code_hashes(first)
    return _deploy(first.endpoint, first.app_dir, STACK), *before


def _inventory(deployment: Deployment) -> dict[str, int]:
    def count(service: str, call: str, key: str, **kwargs: Any) -> int:
        return len(getattr(deployment.client(service), call)(**kwargs)[key])

    prefix = STACK.lower()
    return {
        "alarms": count("cloudwatch", "describe_alarms", "MetricAlarms"),
        "tables": count("glue", "get_tables", "TableList", DatabaseName=prefix),
        "databases": count("glue", "get_databases", "DatabaseList"),
        "workgroups": count("athena", "list_work_groups", "WorkGroups"),
        "schedules": count("scheduler", "list_schedules", "Schedules"),
        "functions": count("lambda", "list_functions", "Functions"),
        "layers": count("lambda", "list_layers", "Layers"),
        "rules": count("events", "list_rules", "Rules"),
    }


def _code_hashes(deployment: Deployment) -> dict[str, str]:
    functions = deployment.client("lambda").list_functions()["Functions"]
    return {fn["FunctionName"]: fn["CodeSha256"] for fn in functions}


def test_deploy_reports_every_resource_and_type_of_the_template(first: Deployment) -> None:
    # Given the first deploy of the test app
    # Then it completed and the report has every template resource, with its type
    assert first.exit_code == 0
    template = {k: v["Type"] for k, v in first.template["Resources"].items()}
    reported = {row["logical_id"]: row["resource_type"] for row in first.report["resources"]}
    assert reported == template
    assert set(first.report["types"]) == set(template.values())
    # And only the CDK metadata is absent; everything else is live or created
    absent = [
        row["resource_type"] for row in first.report["resources"] if row["status"] == "not honoured"
    ]
    assert absent == ["AWS::CDK::Metadata"]


def test_skipped_kinds_are_reported_created_and_moto_kinds_live(first: Deployment) -> None:
    # Given the first deploy's report
    status = {row["resource_type"]: row["status"] for row in first.report["resources"]}
    # Then the kinds moto skips were created by the deploy step
    for kind in (
        "AWS::Glue::Database",
        "AWS::Glue::Table",
        "AWS::Athena::WorkGroup",
        "AWS::CloudWatch::Alarm",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::Scheduler::Schedule",
        "Custom::S3BucketNotifications",
    ):
        assert status[kind] == "created", kind
    # And the kinds moto creates were confirmed through their APIs
    for kind in (
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
    ):
        assert status[kind] == "live", kind
    # And what moto ignores is said, e.g. stream encryption and SSL-only conditions
    notes = " ".join(n for row in first.report["resources"] for n in row["not_honoured"])
    assert "StreamEncryption" in notes and "SecureTransport" in notes


def test_glue_table_has_its_columns_partitions_serde_and_resolved_location(
    first: Deployment,
) -> None:
    # Given the deployed app's Glue table
    table = first.client("glue").get_table(DatabaseName=STACK.lower(), Name="clicks")["Table"]
    bucket = first.physical("Lake")
    # Then its columns, partition keys, SerDe and location are the template's, resolved
    descriptor = table["StorageDescriptor"]
    assert [c["Name"] for c in descriptor["Columns"]] == ["event_id", "ts"]
    assert descriptor["Columns"][0]["Comment"] == "unique id"
    assert [p["Name"] for p in table["PartitionKeys"]] == ["dt"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert descriptor["Location"] == f"s3://{bucket}/raw/clicks/"
    assert table["Description"] == "raw clicks"
    database = first.client("glue").get_database(Name=STACK.lower())["Database"]
    assert database["Description"] == "deploy app lake"


def test_alarm_actions_resolve_to_the_real_topic(first: Deployment) -> None:
    # Given the deployed alarm and topic
    alarms = first.client("cloudwatch").describe_alarms(AlarmNamePrefix=STACK)["MetricAlarms"]
    topic_arn = first.physical("Alerts")
    # Then the alarm exists with its threshold, missing-data policy and the topic as action
    (alarm,) = alarms
    assert alarm["AlarmActions"] == [topic_arn]
    assert alarm["Threshold"] == 48 and alarm["TreatMissingData"] == "breaching"
    assert alarm["MetricName"] == "FreshnessLagHours"


def test_athena_workgroup_and_resource_policies_exist(first: Deployment) -> None:
    # Given the deployed app
    bucket = first.physical("Lake")
    workgroup = first.client("athena").get_work_group(WorkGroup=f"{STACK.lower()}-analysts")
    # Then the workgroup has its result location, resolved to the real bucket
    configuration = workgroup["WorkGroup"]["Configuration"]
    assert configuration["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/athena/"
    # And the topic and queue policies were put; the bucket's only statement is the
    # conditional SSL-only Deny, which moto would apply unconditionally (denying every
    # request over plain HTTP): it is left out, and the bucket tells EventBridge instead
    s3 = first.client("s3")
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)
    topic = first.client("sns").get_topic_attributes(TopicArn=first.physical("Alerts"))
    assert "cloudwatch.amazonaws.com" in topic["Attributes"]["Policy"]
    queue = first.client("sqs").get_queue_attributes(
        QueueUrl=first.physical("Work"), AttributeNames=["Policy"]
    )
    assert "aws:SecureTransport" in queue["Attributes"]["Policy"]


def test_schedules_notifications_and_ignored_settings(first: Deployment) -> None:
    # Given the deployed app
    state_machine = first.physical("Daily")
    # Then the Scheduler schedule and the EventBridge rule both target the state machine
    schedule = first.client("scheduler").get_schedule(Name=f"{STACK.lower()}-weekly")
    assert schedule["Target"]["Arn"] == state_machine
    assert schedule["ScheduleExpression"] == "cron(0 4 ? * MON *)"
    rule = first.physical("DailyRule")
    targets = first.client("events").list_targets_by_rule(Rule=rule)["Targets"]
    assert [t["Arn"] for t in targets] == [state_machine]
    # And the bucket notifies the queue of new landing files
    notifications = first.client("s3").get_bucket_notification_configuration(
        Bucket=first.physical("Lake")
    )
    (queue_config,) = notifications["QueueConfigurations"]
    assert queue_config["QueueArn"].endswith(first.physical("Work").rsplit("/", 1)[-1])
    # And what moto ignored was re-applied: layer, reserved concurrency, stream encryption
    function = first.physical("Worker")
    configuration = first.client("lambda").get_function(FunctionName=function)
    assert len(configuration["Configuration"]["Layers"]) == 1
    assert configuration["Concurrency"]["ReservedConcurrentExecutions"] == 5
    stream = first.client("kinesis").describe_stream_summary(StreamName=first.physical("Clicks"))
    assert stream["StreamDescriptionSummary"]["EncryptionType"] == "KMS"
    # And the KMS key answers DescribeKey and keeps its tags
    key_id = first.physical("DataKey")
    assert first.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"]


def test_second_deploy_without_change_duplicates_nothing(
    second: tuple[Deployment, dict[str, int], dict[str, str]],
) -> None:
    # Given the app deployed a second time, unchanged
    deployment, inventory_before, hashes_before = second
    # Then it completed, no resource was duplicated and no code changed
    assert deployment.exit_code == 0
    assert _inventory(deployment) == inventory_before
    assert _code_hashes(deployment) == hashes_before
    statuses = {row["logical_id"]: row["status"] for row in deployment.report["resources"]}
    assert list(statuses.values()).count("not honoured") == 1


def test_default_synthesizer_deploys_through_cdk_bootstrap(
    second: tuple[Deployment, dict[str, int], dict[str, str]],
) -> None:
    # Given the app as a second stack that needs a bootstrapped environment
    deployment, _, _ = second
    bootstrapped = _deploy(
        deployment.endpoint, deployment.app_dir, BOOTSTRAPPED_STACK, synthesizer="default"
    )
    # Then the deploy bootstrapped the emulator and completed the stack like the first
    assert bootstrapped.exit_code == 0
    toolkit = bootstrapped.client("cloudformation").describe_stacks(StackName="CDKToolkit")
    assert toolkit["Stacks"][0]["StackStatus"].endswith("COMPLETE")
    glue = bootstrapped.client("glue")
    assert glue.get_table(DatabaseName=BOOTSTRAPPED_STACK.lower(), Name="clicks")["Table"]
