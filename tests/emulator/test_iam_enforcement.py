"""The emulator under IAM enforcement (`--enforce-iam`): unknown credentials are refused, the
emulator's own machinery acts as its administrator (the Kinesis poller still delivers), and
every Lambda invocation acts as the function's own role: allowed what its policy allows,
denied the rest."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import EmulatorServer, start_emulator
from tests.support import unique_name, wait_for

HANDLER = textwrap.dedent(
    """
    import boto3

    def handler(event, context):
        s3 = boto3.client("s3")
        outcome = {}
        for bucket in event.get("buckets", []):
            try:
                s3.put_object(Bucket=bucket, Key="written-by-the-function", Body=b"x")
                outcome[bucket] = "written"
            except Exception as exc:
                outcome[bucket] = type(exc).__name__ + ": " + str(exc)[:200]
        dynamodb = boto3.client("dynamodb")
        for table in event.get("tables", []):
            try:
                dynamodb.put_item(TableName=table, Item={"pk": {"S": "k"}})
                outcome[table] = "written"
            except Exception as exc:
                outcome[table] = type(exc).__name__ + ": " + str(exc)[:200]
        cloudwatch = boto3.client("cloudwatch")
        for namespace in event.get("namespaces", []):
            try:
                cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=[{"MetricName": "M", "Value": 1.0}]
                )
                outcome[namespace] = "published"
            except Exception as exc:
                outcome[namespace] = type(exc).__name__ + ": " + str(exc)[:200]
        for record in event.get("Records", []):
            s3.put_object(
                Bucket=record["kinesis"]["partitionKey"],
                Key=record["kinesis"]["sequenceNumber"],
                Body=b"from the stream",
            )
        return outcome
    """
)


@pytest.fixture(scope="module")
def enforced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with start_emulator(tmp_path_factory.mktemp("pablo-iam"), enforce_iam=True) as server:
        yield server


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def _function_with_role(
    server: EmulatorServer,
    allowed_bucket: str,
    *,
    allowed_table: str = "none",
    allowed_namespace: str = "none",
    readable_stream: str = "none",
) -> str:
    """A function whose role may put objects in `allowed_bucket`, items in `allowed_table`,
    metrics in `allowed_namespace` (the stack's grant: `*` under a namespace condition) and
    read `readable_stream` (what its event source mapping needs), nothing else."""
    iam = server.client("iam")
    role_name = unique_name("writer-role")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{allowed_bucket}/*",
            },
            {
                "Effect": "Allow",
                "Action": "dynamodb:PutItem",
                "Resource": f"arn:aws:dynamodb:us-east-1:123456789012:table/{allowed_table}",
            },
            {
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": allowed_namespace}},
            },
            {
                "Effect": "Allow",
                "Action": [
                    "kinesis:DescribeStream",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                "Resource": f"arn:aws:kinesis:us-east-1:123456789012:stream/{readable_stream}",
            },
        ],
    }
    iam.put_role_policy(RoleName=role_name, PolicyName="write", PolicyDocument=json.dumps(policy))
    name = unique_name("writer")
    server.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip(HANDLER)},
        Timeout=30,
    )
    return name


def _invoke(server: EmulatorServer, name: str, event: dict[str, Any]) -> dict[str, Any]:
    response = server.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    assert not response.get("FunctionError"), response["Payload"].read()
    payload: dict[str, Any] = json.loads(response["Payload"].read())
    return payload


def test_credentials_of_no_principal_are_refused(enforced: EmulatorServer) -> None:
    # Given a client signing with keys the emulator's IAM does not know
    stranger = boto3.client(
        "s3",
        endpoint_url=enforced.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIAUNKNOWNUNKNOWN00",
        aws_secret_access_key="not-a-secret",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    # Then every request is refused, while the emulator's own client (its administrator) works
    with pytest.raises(ClientError) as refused:
        stranger.list_buckets()
    assert refused.value.response["Error"]["Code"] in {"InvalidAccessKeyId", "AccessDenied"}
    assert "Buckets" in enforced.client("s3").list_buckets()
    assert enforced.control.health()["iam_enforced"] is True


def test_an_invocation_acts_as_the_function_role(enforced: EmulatorServer) -> None:
    # Given two buckets and a function whose role may write to the first only
    s3 = enforced.client("s3")
    allowed, forbidden = unique_name("allowed"), unique_name("forbidden")
    for bucket in (allowed, forbidden):
        s3.create_bucket(Bucket=bucket)
    name = _function_with_role(enforced, allowed)
    # When it writes to both
    outcome = _invoke(enforced, name, {"buckets": [allowed, forbidden]})
    # Then its role's policy decides: written where allowed, AccessDenied elsewhere
    assert outcome[allowed] == "written"
    assert "An error occurred (AccessDenied) when calling the PutObject" in outcome[forbidden]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=allowed)["Contents"]] == [
        "written-by-the-function"
    ]
    assert s3.list_objects_v2(Bucket=forbidden).get("KeyCount") == 0


def test_grants_on_a_table_or_under_a_namespace_condition_are_judged_on_them(
    enforced: EmulatorServer,
) -> None:
    # Given two tables, and a function allowed to write to the first and to publish metrics
    # in one namespace only
    dynamodb = enforced.client("dynamodb")
    allowed, other = unique_name("allowed-table"), unique_name("other-table")
    for table in (allowed, other):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    name = _function_with_role(
        enforced, unique_name("unused"), allowed_table=allowed, allowed_namespace="Pablo/Mine"
    )
    # When it writes to both tables and publishes in both namespaces
    outcome = _invoke(
        enforced, name, {"tables": [allowed, other], "namespaces": ["Pablo/Mine", "Other"]}
    )
    # Then the table's ARN and the namespace condition decide, as in AWS
    assert outcome[allowed] == "written"
    assert "AccessDenied" in outcome[other]
    assert outcome["Pablo/Mine"] == "published"
    assert "AccessDenied" in outcome["Other"]


def test_the_mapping_reads_the_stream_as_the_function_role_under_enforcement(
    enforced: EmulatorServer, tmp_path: Path
) -> None:
    # Given a stream mapped to a function whose role may read it (the mapping reads the
    # stream as the function's role, as Lambda does)
    bucket = unique_name("from-stream")
    enforced.client("s3").create_bucket(Bucket=bucket)
    kinesis, stream = enforced.client("kinesis"), unique_name("stream")
    name = _function_with_role(enforced, bucket, readable_stream=stream)
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    arn = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
    enforced.client("lambda").create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON", BatchSize=10
    )
    # When a record is put (its partition key names the bucket the function writes to)
    put = kinesis.put_record(StreamName=stream, Data=b"{}", PartitionKey=bucket)

    # Then the function ran on it, as its role, and wrote where its role allows
    def landed() -> list[str] | None:
        keys = enforced.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
        return [k["Key"] for k in keys] or None

    assert wait_for(landed, "the record delivered under enforcement") == [put["SequenceNumber"]]


def _role(server: EmulatorServer, service: str, statements: list[dict[str, Any]]) -> str:
    """A role that `service` may assume, allowed `statements`."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = server.client("iam")
    name = unique_name("service-role")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    policy = {"Version": "2012-10-17", "Statement": statements}
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))
    return arn


def _execution(server: EmulatorServer, definition: dict[str, Any], role: str) -> dict[str, Any]:
    sfn = server.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique_name("machine"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=machine, name=unique_name("run"), input="{}")

    def finished() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=started["executionArn"])
        return None if described["status"] == "RUNNING" else described

    result: dict[str, Any] = wait_for(finished, "the execution to finish")
    return result


def _invoke_task(function: str, bucket: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload": {"buckets": [bucket]}},
        "OutputPath": "$.Payload",
    }


def test_a_workflow_task_acts_as_the_state_machine_role(enforced: EmulatorServer) -> None:
    # Given two functions, and a state machine role allowed to invoke the first only (and
    # granted a publish it never makes)
    bucket = unique_name("task-writes")
    enforced.client("s3").create_bucket(Bucket=bucket)
    functions = enforced.client("lambda")
    allowed, other = _function_with_role(enforced, bucket), _function_with_role(enforced, bucket)
    allowed_arn = functions.get_function(FunctionName=allowed)["Configuration"]["FunctionArn"]
    never = "arn:aws:sns:us-east-1:123456789012:never-published"
    role = _role(
        enforced,
        "states.amazonaws.com",
        [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": allowed_arn},
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": never},
        ],
    )
    # When a workflow invokes the first, and another invokes the second
    ran = _execution(
        enforced,
        {"StartAt": "A", "States": {"A": {**_invoke_task(allowed, bucket), "End": True}}},
        role,
    )
    refused = _execution(
        enforced,
        {"StartAt": "B", "States": {"B": {**_invoke_task(other, bucket), "End": True}}},
        role,
    )
    # Then the role decides: the first ran (and wrote), the second was refused by Lambda
    assert ran["status"] == "SUCCEEDED", ran
    assert json.loads(ran["output"]) == {bucket: "written"}
    assert refused["status"] == "FAILED"
    assert "AccessDenied" in f"{refused.get('error')} {refused.get('cause')}"
    # And the usage report names what the role used, was refused, and never used
    usage = enforced.control.iam_usage()[role.split("/")[-1]]
    assert usage["used"] == [f"lambda:InvokeFunction {allowed_arn}"]
    assert usage["denied"] == [f"lambda:InvokeFunction {allowed_arn.replace(allowed, other)}"]
    assert usage["unused"] == [f"sns:Publish {never}"]


def test_a_role_that_does_not_trust_step_functions_runs_no_task(
    enforced: EmulatorServer,
) -> None:
    # Given a state machine whose role trusts Lambda, not Step Functions
    bucket = unique_name("untrusted")
    enforced.client("s3").create_bucket(Bucket=bucket)
    function = _function_with_role(enforced, bucket)
    role = _role(
        enforced,
        "lambda.amazonaws.com",
        [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
    )
    # When it runs a task, then the task fails and the function never ran
    execution = _execution(
        enforced,
        {"StartAt": "A", "States": {"A": {**_invoke_task(function, bucket), "End": True}}},
        role,
    )
    assert execution["status"] == "FAILED"
    assert enforced.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_rule_invokes_a_function_only_with_the_function_permission(
    enforced: EmulatorServer,
) -> None:
    # Given two functions targeted by one rule; only the first lets the rule invoke it
    events, functions = enforced.client("events"), enforced.client("lambda")
    permitted_bucket, refused_bucket = unique_name("permitted"), unique_name("refused")
    for bucket in (permitted_bucket, refused_bucket):
        enforced.client("s3").create_bucket(Bucket=bucket)
    permitted = _function_with_role(enforced, permitted_bucket)
    refused = _function_with_role(enforced, refused_bucket)
    rule = unique_name("rule")
    source = unique_name("pablo.test")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    arns = {
        name: functions.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        for name in (permitted, refused)
    }
    functions.add_permission(
        FunctionName=permitted,
        StatementId="from-the-rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    events.put_targets(
        Rule=rule,
        Targets=[
            {
                "Id": "permitted",
                "Arn": arns[permitted],
                "Input": json.dumps({"buckets": [permitted_bucket]}),
            },
            {
                "Id": "refused",
                "Arn": arns[refused],
                "Input": json.dumps({"buckets": [refused_bucket]}),
            },
        ],
    )
    # When an event matches the rule
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}"}])

    # Then the permitted function ran (and wrote), the other was never invoked
    def written() -> list[str] | None:
        listed = enforced.client("s3").list_objects_v2(Bucket=permitted_bucket)
        return [o["Key"] for o in listed.get("Contents", [])] or None

    assert wait_for(written, "the permitted function's write") == ["written-by-the-function"]
    refusals = wait_for(
        lambda: enforced.control.iam_usage().get(arns[refused], {}).get("denied"),
        "the refused delivery recorded",
    )
    assert refusals == [f"lambda:InvokeFunction {rule_arn}"]
    assert enforced.client("s3").list_objects_v2(Bucket=refused_bucket).get("KeyCount") == 0


def test_a_mapping_whose_function_role_cannot_read_the_stream_delivers_nothing(
    enforced: EmulatorServer,
) -> None:
    # Given a stream mapped to a function whose role may not read it
    bucket = unique_name("unread")
    enforced.client("s3").create_bucket(Bucket=bucket)
    name = _function_with_role(enforced, bucket)
    kinesis, stream = enforced.client("kinesis"), unique_name("unreadable")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    arn = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
    enforced.client("lambda").create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON", BatchSize=10
    )
    role = enforced.client("lambda").get_function(FunctionName=name)["Configuration"]["Role"]
    # When a record is put
    kinesis.put_record(StreamName=stream, Data=b"{}", PartitionKey=bucket)
    # Then the mapping is refused its reads of the stream, and the function never runs
    refused = wait_for(
        lambda: enforced.control.iam_usage().get(role.split("/")[-1], {}).get("denied"),
        "the mapping's reads refused",
    )
    assert refused and all(
        entry.startswith("kinesis:") and entry.endswith(f" {arn}") for entry in refused
    ), refused
    assert enforced.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_request_naming_queries_is_judged_on_the_workgroup_they_ran_in(
    enforced: EmulatorServer,
) -> None:
    # Given two workgroups, a query in each, and a user allowed Athena in the first only
    athena, iam = enforced.client("athena"), enforced.client("iam")
    results = unique_name("results")
    enforced.client("s3").create_bucket(Bucket=results)
    mine, other = unique_name("mine"), unique_name("other")
    for workgroup in (mine, other):
        athena.create_work_group(
            Name=workgroup,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{results}/{workgroup}/"}
            },
        )
    queries = {
        w: athena.start_query_execution(QueryString="SELECT 1", WorkGroup=w)["QueryExecutionId"]
        for w in (mine, other)
    }
    user = unique_name("analyst")
    iam.create_user(UserName=user)
    arn = f"arn:aws:athena:us-east-1:123456789012:workgroup/{mine}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "athena:*", "Resource": arn}],
    }
    iam.put_user_policy(UserName=user, PolicyName="mine", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    client = boto3.client(
        "athena",
        endpoint_url=enforced.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
    # When the user asks for each query, alone and in a batch
    # Then the query of the first workgroup answers, the other's is refused, as in AWS
    assert client.get_query_execution(QueryExecutionId=queries[mine])["QueryExecution"]
    assert client.batch_get_query_execution(QueryExecutionIds=[queries[mine]])["QueryExecutions"]
    for call in (
        lambda: client.get_query_execution(QueryExecutionId=queries[other]),
        lambda: client.batch_get_query_execution(QueryExecutionIds=[queries[other]]),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_deleting_objects_in_a_batch_is_judged_on_each_key(enforced: EmulatorServer) -> None:
    # Given a bucket with two objects and a user allowed to delete under `mine/` only
    s3, iam = enforced.client("s3"), enforced.client("iam")
    bucket = unique_name("batch-delete")
    s3.create_bucket(Bucket=bucket)
    for key in ("mine/a", "mine/b", "theirs/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    user = unique_name("deleter")
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{bucket}/mine/*",
            }
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="mine", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    client = boto3.client(
        "s3",
        endpoint_url=enforced.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    # When the user deletes its own keys in one DeleteObjects call
    answer = client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "mine/a"}, {"Key": "mine/b"}]}
    )
    # Then both are deleted: the grant on the objects' ARNs decides, not one on the bucket
    assert sorted(d["Key"] for d in answer.get("Deleted", [])) == ["mine/a", "mine/b"]
    assert not answer.get("Errors")
    # And a key outside its grant is refused in the answer's Errors, as S3 answers it
    refused = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "theirs/c"}]})
    assert [(e["Key"], e["Code"]) for e in refused["Errors"]] == [("theirs/c", "AccessDenied")]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["theirs/c"]
