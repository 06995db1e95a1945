"""The engagement pipeline's resources in the synthesized template."""

from __future__ import annotations

import json
from typing import Any

from functions.core import env
from functions.core.monitor.alarm_inventory import spec
from functions.core.monitor.alarm_inventory.spec import MissingData, Owner
from functions.core.schemas import Database
from infra.constructs.engagement import ASL_PATH, INGEST_BATCH_SIZE
from tests.infra.conftest import Synthesized

LAMBDA_RETRYABLE = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def _one(synthesized: Synthesized, cfn_type: str, **match: Any) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in synthesized.resources(cfn_type).values()
        if all(r["Properties"].get(k) == v for k, v in match.items())
    ]
    assert len(found) == 1, (cfn_type, match, len(found))
    return found[0]


def test_the_click_stream_is_on_demand_and_encrypted_with_the_data_key(
    synthesized: Synthesized,
) -> None:
    # Given the synthesized stack
    stream = _one(synthesized, "AWS::Kinesis::Stream")
    # Then the stream is on demand, KMS-encrypted with the platform's data key
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    key = synthesized.stack.resolve(synthesized.stack.platform.keys.data.key_arn)
    assert stream["StreamEncryption"]["KeyId"] == key
    # and its name is a stack output the producer reads
    assert "ClickStreamName" in synthesized.template["Outputs"]


def test_the_ingest_mapping_has_the_reliability_settings(synthesized: Synthesized) -> None:
    mapping = _one(synthesized, "AWS::Lambda::EventSourceMapping")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < mapping["MaximumRetryAttempts"] <= 10
    assert 0 < mapping["MaximumRecordAgeInSeconds"] <= 7 * 24 * 3600
    assert mapping["BatchSize"] == INGEST_BATCH_SIZE
    # Sized by bytes: about 916 payload bytes per 250-byte click within Lambda's 6 MB.
    assert INGEST_BATCH_SIZE * 916 <= 6 * 1024 * 1024
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    queue_ids = list(synthesized.resources("AWS::SQS::Queue"))
    assert destination["Fn::GetAtt"][0] in queue_ids


def test_the_daily_workflow_retries_lambda_errors_and_alerts_on_failure(
    synthesized: Synthesized,
) -> None:
    # Given the ASL file the construct loads
    definition = json.loads(ASL_PATH.read_text())
    tasks = _tasks(definition["States"])
    # Then every Task has a timeout, and every Lambda task retries the Lambda service errors
    # and TransientError with backoff and jitter
    assert tasks
    for name, task in tasks.items():
        assert task.get("TimeoutSeconds"), name
        if "lambda" in task["Resource"]:
            retry = task["Retry"][0]
            assert LAMBDA_RETRYABLE | {"TransientError"} <= set(retry["ErrorEquals"]), name
            assert retry["BackoffRate"] > 1 and retry["JitterStrategy"] == "FULL", name
    # and failures publish to the on-call topic, then Fail
    assert definition["States"]["NotifyFailure"]["Resource"] == "arn:aws:states:::sns:publish"
    assert definition["States"]["Failed"]["Type"] == "Fail"
    # and the deployed state machine is scheduled daily at 02:00 UTC
    rules = synthesized.resources("AWS::Events::Rule")
    schedules = {r["Properties"].get("ScheduleExpression") for r in rules.values()}
    assert "cron(0 2 * * ? *)" in schedules
    assert "EngagementDailyStateMachineArn" in synthesized.template["Outputs"]


def _tasks(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        if state["Type"] == "Task":
            found[name] = state
        if state["Type"] == "Map":
            found.update(_tasks(state["Iterator"]["States"]))
    return found


def test_engagement_alarms_name_their_owners_and_treat_silence_as_a_breach() -> None:
    freshness = spec("click-freshness")
    assert freshness.threshold == 48 and freshness.owner is Owner.FRONTEND
    assert freshness.secondary_owner is Owner.DATA_ENGINEERING
    silent = spec("click-stream-silent")
    assert silent.missing_data is MissingData.BREACHING
    assert silent.runbook == "docs/runbooks/engagement.md#click-stream-silent"


def _statements_of_role(synthesized: Synthesized, role_fragment: str) -> list[dict[str, Any]]:
    """Every Allow statement of the policies attached to the role whose logical id has
    `role_fragment`, resolved to plain values."""
    found = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if role_fragment in roles:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_daily_function_queries_athena_only_in_the_pipelines_workgroup(
    synthesized: Synthesized,
) -> None:

    config = synthesized.config
    # Given the daily function and its role's statements
    daily = _one(
        synthesized,
        "AWS::Lambda::Function",
        FunctionName=config.resource_name("engagement-daily"),
    )
    statements = _statements_of_role(synthesized, "EngagementDailyRole")
    # Then it is told the pipelines workgroup, the engine threshold and the poll interval,
    # as the environment's configuration says
    variables = daily["Environment"]["Variables"]
    assert variables[env.ATHENA_WORKGROUP] == config.resource_name("pipelines")
    assert variables[env.ATHENA_MIN_RAW_BYTES] == str(config.athena_min_raw_bytes)
    assert variables[env.ATHENA_POLL_SECONDS] == str(config.athena_poll_seconds)
    # and every Athena action it may take is on that workgroup alone
    athena = [s for s in statements if any(a.startswith("athena:") for a in _as_list(s["Action"]))]
    assert {a for s in athena for a in _as_list(s["Action"])} == {
        "athena:StartQueryExecution",
        "athena:BatchGetQueryExecution",
        "athena:GetQueryResults",
    }
    for statement in athena:
        text = json.dumps(statement["Resource"])
        assert f"workgroup/{config.resource_name('pipelines')}" in text
        assert "analysts" not in text and "finance" not in text
    # and it creates and drops only its working tables, in the curated database
    curated = config.glue_database_name(Database.CURATED)
    (ddl,) = [s for s in statements if "glue:CreateTable" in _as_list(s["Action"])]
    assert sorted(_as_list(ddl["Action"])) == ["glue:CreateTable", "glue:DeleteTable"]
    tables = [r for r in json.dumps(ddl["Resource"]).split('"') if ":table/" in r or "table/" in r]
    assert tables and all(f"{curated}/engagement_*" in r for r in tables)
    # and of the results bucket, only the pipelines workgroup's prefix
    results = [
        s
        for s in statements
        if "s3:PutObject" in _as_list(s["Action"]) and "AthenaResults" in json.dumps(s)
    ]
    assert results and all("pipelines/*" in json.dumps(s["Resource"]) for s in results)
