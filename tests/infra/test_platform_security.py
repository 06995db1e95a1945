"""Security properties of the platform, asserted on the synthesized template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

VERSIONED = ("landing", "raw", "quarantine", "finance", "curated")


def _bucket_by_purpose(synthesized) -> dict[str, tuple[str, dict[str, Any]]]:
    names = {
        synthesized.config.bucket_name(purpose): purpose
        for purpose in synthesized.stack.platform.buckets.all
    }
    return {
        names[r["Properties"]["BucketName"]]: (logical_id, r)
        for logical_id, r in synthesized.resources("AWS::S3::Bucket").items()
    }


def _policy_statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return resource["Properties"]["PolicyDocument"]["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_platform_bucket_exists_once(synthesized):
    # then each purpose has exactly one bucket
    assert set(_bucket_by_purpose(synthesized)) == set(synthesized.stack.platform.buckets.all)
    assert len(synthesized.resources("AWS::S3::Bucket")) == 8


def test_every_bucket_blocks_public_access(synthesized):
    for purpose, (_, bucket) in _bucket_by_purpose(synthesized).items():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, purpose


def test_every_bucket_policy_denies_requests_without_ssl(synthesized):
    # given the bucket policies, by the bucket they protect
    policies = {
        r["Properties"]["Bucket"]["Ref"]: r
        for r in synthesized.resources("AWS::S3::BucketPolicy").values()
    }
    for purpose, (logical_id, _) in _bucket_by_purpose(synthesized).items():
        # then each bucket has one, with a Deny on aws:SecureTransport false
        statements = _policy_statements(policies[logical_id])
        ssl_denies = [
            s
            for s in statements
            if s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert ssl_denies, purpose
        assert ssl_denies[0]["Action"] == "s3:*"


def test_data_buckets_use_kms_and_finance_uses_its_own_key(synthesized):
    keys = synthesized.resources("AWS::KMS::Key")
    stack = synthesized.stack
    data_key = stack.get_logical_id(stack.platform.keys.data.node.default_child)
    finance_key = stack.get_logical_id(stack.platform.keys.finance.node.default_child)
    assert {data_key, finance_key} <= set(keys)
    for purpose, (_, bucket) in _bucket_by_purpose(synthesized).items():
        rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        default = rule["ServerSideEncryptionByDefault"]
        if purpose == "access-logs":
            # S3 server access logs can only be delivered to SSE-S3 buckets
            assert default == {"SSEAlgorithm": "AES256"}
            continue
        assert default["SSEAlgorithm"] == "aws:kms", purpose
        expected_key = finance_key if purpose == "finance" else data_key
        assert default["KMSMasterKeyID"] == {"Fn::GetAtt": [expected_key, "Arn"]}, purpose


def test_versioning_where_data_must_not_be_lost(synthesized):
    for purpose, (_, bucket) in _bucket_by_purpose(synthesized).items():
        status = bucket["Properties"].get("VersioningConfiguration", {}).get("Status")
        if purpose in VERSIONED:
            assert status == "Enabled", purpose
            rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
            assert any("NoncurrentVersionExpiration" in r for r in rules), purpose


def test_lifecycle_expires_results_and_keeps_quarantine_long(synthesized):
    buckets = _bucket_by_purpose(synthesized)
    config = synthesized.config

    def expirations(purpose: str) -> list[int]:
        rules = buckets[purpose][1]["Properties"]["LifecycleConfiguration"]["Rules"]
        return [r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r]

    assert expirations("athena-results") == [config.athena_results_days]
    assert expirations("quarantine") == [config.quarantine_retention_days]
    assert config.quarantine_retention_days >= 365
    for purpose in ("landing", "raw", "curated", "finance"):
        assert expirations(purpose) == [], f"current {purpose} data must never expire"


def test_every_bucket_but_the_log_bucket_logs_to_the_log_bucket(synthesized):
    buckets = _bucket_by_purpose(synthesized)
    log_bucket_id = buckets["access-logs"][0]
    for purpose, (_, bucket) in buckets.items():
        logging = bucket["Properties"].get("LoggingConfiguration")
        if purpose == "access-logs":
            assert logging is None
        else:
            assert logging["DestinationBucketName"] == {"Ref": log_bucket_id}, purpose
            assert logging["LogFilePrefix"] == f"{purpose}/"


def test_landing_sends_events_to_eventbridge_without_a_custom_resource(synthesized):
    landing = _bucket_by_purpose(synthesized)["landing"][1]
    notification = landing["Properties"]["NotificationConfiguration"]
    assert notification == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    custom = [
        r for r in synthesized.template["Resources"].values() if r["Type"].startswith("Custom::")
    ]
    assert custom == [], "no custom resources: each would be a Lambda the emulator must run"


def test_kms_keys_rotate(synthesized):
    keys = synthesized.resources("AWS::KMS::Key")
    assert len(keys) == 2
    for logical_id, key in keys.items():
        assert key["Properties"]["EnableKeyRotation"] is True, logical_id


def test_workgroups_enforce_encrypted_results_under_separate_prefixes(synthesized):
    workgroups = synthesized.resources("AWS::Athena::WorkGroup")
    results_bucket = synthesized.config.bucket_name("athena-results")
    locations = set()
    for logical_id, workgroup in workgroups.items():
        configuration = workgroup["Properties"]["WorkGroupConfiguration"]
        assert configuration["EnforceWorkGroupConfiguration"] is True, logical_id
        result = configuration["ResultConfiguration"]
        assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
        assert "KmsKey" in result["EncryptionConfiguration"]
        assert result["OutputLocation"].startswith(f"s3://{results_bucket}/")
        locations.add(result["OutputLocation"])
    names = {w["Properties"]["Name"] for w in workgroups.values()}
    assert names == {
        synthesized.config.resource_name(n) for n in ("analysts", "finance", "pipelines")
    }
    assert len(locations) == 3, "each workgroup writes under its own prefix"


def test_oncall_topic_is_encrypted_and_ssl_only(synthesized):
    synthesized.assertions.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()}
    )
    policies = synthesized.resources("AWS::SNS::TopicPolicy")
    statements = [s for p in policies.values() for s in _policy_statements(p)]
    assert any(
        s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in statements
    )


def test_state_table_is_on_demand_with_pitr_and_kms(synthesized):
    synthesized.assertions.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": Match.any_value(),
            },
        },
    )


def _role_statements(synthesized, role_attr: str) -> list[dict[str, Any]]:
    stack = synthesized.stack
    role = getattr(stack.platform.roles, role_attr)
    role_id = stack.get_logical_id(role.node.default_child)
    statements = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(_policy_statements(policy))
    return statements


def _logical_id(synthesized, construct) -> str:
    return synthesized.stack.get_logical_id(construct.node.default_child)


def _mentions(resource: Any, logical_id: str) -> bool:
    return f'"{logical_id}"' in json.dumps(resource)


def test_analyst_is_denied_every_read_of_the_finance_bucket_and_key(synthesized):
    platform = synthesized.stack.platform
    finance_bucket = _logical_id(synthesized, platform.buckets.finance)
    finance_key = _logical_id(synthesized, platform.keys.finance)
    statements = _role_statements(synthesized, "analyst")
    denies = [s for s in statements if s["Effect"] == "Deny"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    # then s3:* is denied on the finance bucket and all its objects
    bucket_deny = [s for s in denies if s["Action"] == "s3:*"]
    assert bucket_deny
    resources = _as_list(bucket_deny[0]["Resource"])
    assert {"Fn::GetAtt": [finance_bucket, "Arn"]} in resources
    assert {"Fn::Join": ["", [{"Fn::GetAtt": [finance_bucket, "Arn"]}, "/*"]]} in resources
    # and kms:* on the finance key
    assert any(
        s["Action"] == "kms:*" and s["Resource"] == {"Fn::GetAtt": [finance_key, "Arn"]}
        for s in denies
    )
    # and no Allow mentions the finance bucket or key
    assert not any(_mentions(s, finance_bucket) or _mentions(s, finance_key) for s in allows)


def test_analyst_reads_raw_and_curated_and_queries_only_its_workgroup(synthesized):
    platform = synthesized.stack.platform
    statements = [s for s in _role_statements(synthesized, "analyst") if s["Effect"] == "Allow"]
    gets = [s for s in statements if "s3:GetObject" in _as_list(s["Action"])]
    text = json.dumps(gets)
    for bucket in (platform.buckets.raw, platform.buckets.curated):
        assert _logical_id(synthesized, bucket) in text
    athena = [s for s in statements if any(a.startswith("athena:") for a in _as_list(s["Action"]))]
    assert len(athena) == 1
    assert "workgroup/" + synthesized.config.resource_name("analysts") in json.dumps(
        athena[0]["Resource"]
    )
    # least privilege: no action wildcard anywhere in an Allow
    assert not [a for s in statements for a in _as_list(s["Action"]) if "*" in a]


def test_finance_role_reads_the_finance_bucket_in_its_own_workgroup(synthesized):
    platform = synthesized.stack.platform
    statements = [s for s in _role_statements(synthesized, "finance") if s["Effect"] == "Allow"]
    text = json.dumps(statements)
    assert _logical_id(synthesized, platform.buckets.finance) in text
    assert _logical_id(synthesized, platform.keys.finance) in text
    assert "workgroup/" + synthesized.config.resource_name("finance") in text
    assert "workgroup/" + synthesized.config.resource_name("analysts") not in text


def test_oncall_reads_alarms_acknowledges_in_state_table_and_sets_alarm_actions(synthesized):
    platform = synthesized.stack.platform
    statements = [s for s in _role_statements(synthesized, "oncall") if s["Effect"] == "Allow"]
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert {
        "cloudwatch:DescribeAlarms",
        "dynamodb:PutItem",
        "cloudwatch:EnableAlarmActions",
    } <= actions
    assert "cloudwatch:DisableAlarmActions" in actions
    # replay-quarantine marks what it replayed with BatchWriteItem (functions/adapters/state_table)
    assert "dynamodb:BatchWriteItem" in actions
    writes = [s for s in statements if "dynamodb:PutItem" in _as_list(s["Action"])]
    assert writes[0]["Resource"] == {
        "Fn::GetAtt": [_logical_id(synthesized, platform.state_table), "Arn"]
    }
    # no S3 data access at all
    assert not [a for a in actions if a.startswith("s3:")]


@pytest.mark.parametrize(
    "key",
    [
        "LandingBucketName",
        "RawBucketName",
        "CuratedBucketName",
        "QuarantineBucketName",
        "ReportsBucketName",
        "FinanceBucketName",
        "AthenaResultsBucketName",
        "AccessLogsBucketName",
        "OnCallTopicArn",
        "StateTableName",
        "RawDatabaseName",
        "CuratedDatabaseName",
        "FinanceDatabaseName",
        "OpsDatabaseName",
        "AnalystsWorkgroupName",
        "FinanceWorkgroupName",
        "PipelinesWorkgroupName",
        "AnalystRoleArn",
        "FinanceRoleArn",
        "OnCallRoleArn",
    ],
)
def test_outputs_have_stable_export_free_keys(synthesized, key):
    output = synthesized.template["Outputs"][key]
    assert "Export" not in output
    assert output["Value"]


def test_local_template_needs_no_bootstrap_parameters(synthesized):
    assert "Parameters" not in synthesized.template
    assert "Rules" not in synthesized.template
