"""The fidelity report's classification: pure, no emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from functions.core.monitor.alarm_inventory import INVENTORY
from pablo.local.fidelity import (
    ATHENA_INTEGRATION,
    ATHENA_PARTITIONS,
    CUSTOM_RESOURCE,
    NO_CREATOR,
    NOT_PRODUCED_WHY,
    POLICY_CONDITIONS,
    PRODUCED_SERVICE_METRICS,
    Observation,
    Status,
    by_type,
    classify,
    not_honoured,
    render,
    save,
    summary,
    to_document,
)

SSL_ONLY = {
    "Statement": [
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
}

TEMPLATE: dict[str, dict[str, Any]] = {
    "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketEncryption": {"x": 1}}},
    "BucketPolicy": {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": SSL_ONLY},
    },
    "Stream": {
        "Type": "AWS::Kinesis::Stream",
        "Properties": {"StreamEncryption": {"EncryptionType": "KMS", "KeyId": "k"}},
    },
    "Table": {"Type": "AWS::Glue::Table", "Properties": {}},
    "Firehose": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {}},
    "Notifications": {"Type": "Custom::S3BucketNotifications", "Properties": {}},
    "AutoDelete": {"Type": "Custom::S3AutoDeleteObjects", "Properties": {}},
    "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Properties": {}},
}


def observed() -> Observation:
    return Observation(
        live={"Bucket": "bucket-1", "Stream": "stream-1"},
        created={"BucketPolicy": "bucket-1", "Notifications": "bucket-1"},
        actions={"Stream": ["set stream encryption KMS"]},
        failed={"Table": "ClientError: boom"},
    )


def test_every_resource_gets_exactly_one_status_in_template_order() -> None:
    # Given a template and what the deploy step observed
    # When the resources are classified
    entries = classify(TEMPLATE, observed())
    # Then each template resource appears once, in order, with one status
    assert [entry.logical_id for entry in entries] == list(TEMPLATE)
    statuses = {entry.logical_id: entry.status for entry in entries}
    assert statuses == {
        "Bucket": Status.LIVE,
        "BucketPolicy": Status.CREATED,
        "Stream": Status.LIVE,
        "Table": Status.NOT_HONOURED,
        "Firehose": Status.NOT_HONOURED,
        "Notifications": Status.CREATED,
        "AutoDelete": Status.NOT_HONOURED,
        "CDKMetadata": Status.NOT_HONOURED,
    }


def test_absent_resources_say_why() -> None:
    # Given resources that are not there locally for different reasons
    entries = {entry.logical_id: entry for entry in classify(TEMPLATE, observed())}
    # Then a failed creation, an unknown type and a custom resource each say so
    assert entries["Table"].not_honoured == ("not created: ClientError: boom",)
    assert entries["Firehose"].not_honoured == (NO_CREATOR,)
    assert entries["AutoDelete"].not_honoured == (CUSTOM_RESOURCE,)
    assert entries["CDKMetadata"].physical_id is None


def test_live_resources_list_the_settings_moto_ignores() -> None:
    # Given live and created resources whose settings moto does not honour
    entries = {entry.logical_id: entry for entry in classify(TEMPLATE, observed())}
    # Then they keep their status but list what is not honoured, and what was done
    assert entries["Stream"].status is Status.LIVE
    assert any("StreamEncryption" in note for note in entries["Stream"].not_honoured)
    assert entries["Stream"].actions == ("set stream encryption KMS",)
    assert POLICY_CONDITIONS in entries["BucketPolicy"].not_honoured
    assert any("BucketEncryption" in note for note in entries["Bucket"].not_honoured)


def test_policy_conditions_are_found_at_any_depth_and_only_when_present() -> None:
    # Given a role whose inline policy has a condition, and one with none
    with_condition = {"Policies": [{"PolicyDocument": SSL_ONLY}]}
    without = {"AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow"}]}}
    # Then only the first is reported
    assert POLICY_CONDITIONS in not_honoured("AWS::IAM::Role", with_condition)
    assert not_honoured("AWS::IAM::Role", without) == ()


def test_empty_properties_are_not_reported_as_ignored() -> None:
    # Given a function with no layers and no tracing
    notes = not_honoured("AWS::Lambda::Function", {"Layers": [], "Handler": "x.y"})
    # Then only the type-wide note remains
    assert not any("Layers" in note or "Tracing" in note for note in notes)


def test_summary_and_types_cover_every_type_of_the_template() -> None:
    # Given the classified template
    entries = classify(TEMPLATE, observed())
    # Then the per-type table has every type and the counts add up
    types = by_type(entries)
    assert set(types) == {resource["Type"] for resource in TEMPLATE.values()}
    assert summary(entries) == {"live": 2, "created": 2, "not honoured": 4}
    assert sum(sum(counts.values()) for counts in types.values()) == len(TEMPLATE)


def test_rendered_table_names_every_resource_and_type(tmp_path: Path) -> None:
    # Given the classified template
    entries = classify(TEMPLATE, observed())
    # When it is rendered and saved
    text = render(entries)
    document = to_document(entries, stack_name="S", endpoint="http://localhost:1")
    path = save(document, tmp_path / "local" / "fidelity.json")
    # Then the text shows every logical id and type, and the JSON round-trips
    for logical_id, resource in TEMPLATE.items():
        assert logical_id in text and str(resource["Type"]) in text
    loaded = json.loads(path.read_text())
    assert loaded["summary"] == summary(entries)
    assert {row["logical_id"]: row["status"] for row in loaded["resources"]}["Table"] == (
        "not honoured"
    )


def _alarm(namespace: str, metric: str, treat: str = "notBreaching") -> dict[str, Any]:
    return {"Namespace": namespace, "MetricName": metric, "TreatMissingData": treat}


def test_an_alarm_on_a_service_metric_the_emulator_never_publishes_says_so() -> None:
    # given alarms on Lambda throttles (never produced locally), on an unknown AWS metric,
    # on Lambda errors (produced) and on the stack's own metric
    throttles = not_honoured("AWS::CloudWatch::Alarm", _alarm("AWS/Lambda", "Throttles"))
    unknown = not_honoured("AWS::CloudWatch::Alarm", _alarm("AWS/EC2", "CPUUtilization", "ignore"))
    errors = not_honoured("AWS::CloudWatch::Alarm", _alarm("AWS/Lambda", "Errors"))
    own = not_honoured("AWS::CloudWatch::Alarm", _alarm("PabloPipelines/local", "ClicksReceived"))
    # then the first two name the metric, why, and how the alarm treats missing data
    assert any(
        "AWS/Lambda Throttles is never published locally (the emulator runs every invocation"
        in note
        and "TreatMissingData notBreaching" in note
        for note in throttles
    )
    assert any("AWS/EC2 CPUUtilization" in n and "ignore" in n for n in unknown)
    # and the produced ones carry only the type's note
    assert errors == own == not_honoured("AWS::CloudWatch::Alarm", {})


def test_every_inventory_alarm_on_a_service_metric_is_produced_or_explained() -> None:
    # an alarm the emulator can never exercise must be a deliberate, documented choice
    for item in INVENTORY:
        if item.namespace is None:
            continue
        metric = (item.namespace, item.metric_name)
        assert metric in PRODUCED_SERVICE_METRICS or metric in NOT_PRODUCED_WHY, item.key


def test_what_the_athena_paths_rely_on_is_listed() -> None:
    # Given an Athena workgroup, and a state machine that polls Athena (its definition as
    # CDK writes it: a Join of parts) next to one that does not
    polling = {
        "DefinitionString": {
            "Fn::Join": ["", ['{"Resource":"arn:aws:states:::athena:getQueryExecution"}']]
        }
    }
    lambda_only = {"DefinitionString": '{"Resource":"arn:aws:states:::lambda:invoke"}'}
    # Then the workgroup says partitions are not read from Glue, and only the polling
    # machine says how its Athena calls are made
    assert ATHENA_PARTITIONS in not_honoured("AWS::Athena::WorkGroup", {})
    assert ATHENA_INTEGRATION in not_honoured("AWS::StepFunctions::StateMachine", polling)
    assert ATHENA_INTEGRATION not in not_honoured("AWS::StepFunctions::StateMachine", lambda_only)
