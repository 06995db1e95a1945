"""The engagement pipeline's resources in the synthesized template."""

from __future__ import annotations

import json
from typing import Any

from functions.core.monitor.alarm_inventory import spec
from functions.core.monitor.alarm_inventory.spec import MissingData, Owner
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
