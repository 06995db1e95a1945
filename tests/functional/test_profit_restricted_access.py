"""Restricted finance data under moto's IAM enforcement.

A separate moto server (not the shared emulator) holds the finance and curated buckets with
pipeline output in them. Two IAM users carry exactly the policies the synthesized stack
gives the analyst role and the finance role. With authorization switched on
(`/moto-api/reset-auth`), the analyst is denied every read of raw salaries (and of the
other finance-only tables) and allowed the curated profit table; the finance user, as a
control, reads the salaries.

Not covered here: bucket policies (moto applies a Deny without evaluating its Condition, so
the stack's SSL-only statement would deny everything over plain HTTP) and KMS key policies
(moto does not encrypt objects): the role policy is the control under test.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from functions.adapters import s3_tables
from functions.core import schemas
from functions.core.transform import profit
from pablo.local.cfn_resolve import StackFacts, resolve
from tests.support import free_port

ACCOUNT = "123456789012"
REGION = "us-east-1"
MONTH = "2026-09"


@dataclass(frozen=True)
class Lake:
    endpoint: str
    finance_bucket: str
    curated_bucket: str
    keys: dict[str, str]  # table name -> object key

    def client(self, access_key: str, secret: str) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
        )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.app import build_app  # noqa: PLC0415 - jsii starts only for this module

    outdir = tmp_path_factory.mktemp("synth")
    app, stack = build_app(outdir=str(outdir))
    app.synth()
    loaded: dict[str, Any] = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)  # setup runs unauthenticated
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    endpoint = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _facts(template: dict[str, Any]) -> StackFacts:
    """Enough of the deployed stack to resolve the human roles' policies."""
    facts = StackFacts(
        account=ACCOUNT, region=REGION, stack_name="PabloPipelines", stack_id="stack"
    )
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        name = next(
            (
                props[k]
                for k in ("BucketName", "Name", "RoleName", "TableName", "TopicName")
                if isinstance(props.get(k), str)
            ),
            logical_id,
        )
        if kind == "AWS::Glue::Database":
            name = props["DatabaseInput"]["Name"]
        facts.refs[logical_id] = name
        if kind == "AWS::S3::Bucket":
            arn = f"arn:aws:s3:::{name}"
        elif kind == "AWS::KMS::Key":
            arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical_id}"
        else:
            service = kind.split("::")[1].lower()
            arn = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{logical_id}"
        facts.attributes[logical_id] = {"Arn": arn, "TopicName": name, "TableName": name}
    return facts


def _role_policies(template: dict[str, Any], role_name: str) -> list[dict[str, Any]]:
    facts = _facts(template)
    (role_id,) = [
        logical_id
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == role_name
    ]
    documents = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_id} in resource["Properties"].get("Roles", []):
            documents.append(resolve(resource["Properties"]["PolicyDocument"], facts))
    role = template["Resources"][role_id]["Properties"]
    assert not role.get("ManagedPolicyArns"), "managed policies would need attaching too"
    for inline in role.get("Policies", []):
        documents.append(resolve(inline["PolicyDocument"], facts))
    assert documents, f"no policy found for {role_name}"
    return documents


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.fixture(scope="module")
def lake(moto_server: str, template: dict[str, Any]) -> Lake:
    """Both buckets with one object per table, written before authorization is on."""
    buckets = {
        r["Properties"]["BucketName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::S3::Bucket"
    }
    (finance,) = [b for b in buckets if "-finance-" in b]
    (curated,) = [b for b in buckets if "-curated-" in b]
    admin = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    totals = profit.MonthTotals(1000, 200, 300, 2)
    rows: dict[schemas.Table, pa.Table] = {
        schemas.RAW_SALARIES: pa.Table.from_pylist(
            [
                {
                    "team": "data",
                    "headcount": 2,
                    "amount_cents": 300,
                    "currency": "USD",
                    "source_key": "landing/salaries/2026-09/s.csv",
                    "month": MONTH,
                }
            ],
            schema=schemas.RAW_SALARIES.arrow_schema(with_partitions=True),
        ),
        schemas.SALARIES_TEAM_MONTHLY: pa.Table.from_pylist(
            [{"team": "data", "headcount": 2, "amount_cents": 300, "month": MONTH}],
            schema=schemas.SALARIES_TEAM_MONTHLY.arrow_schema(with_partitions=True),
        ),
        schemas.PROFIT_MONTHLY: profit.profit_row(MONTH, totals, publication_status="final"),
    }
    keys: dict[str, str] = {}
    for table, data in rows.items():
        bucket = finance if table.bucket is schemas.Bucket.FINANCE else curated
        if bucket not in _existing(admin):
            admin.create_bucket(Bucket=bucket)
        key = s3_tables.partition_key(table, {"month": MONTH}, "part-0")
        admin.put_object(Bucket=bucket, Key=key, Body=_parquet(data.drop(["month"])))
        keys[table.name] = key
    return Lake(moto_server, finance, curated, keys)


def _existing(s3: Any) -> set[str]:
    return {b["Name"] for b in s3.list_buckets()["Buckets"]}


@pytest.fixture(scope="module")
def principals(moto_server: str, template: dict[str, Any], lake: Lake) -> dict[str, Any]:
    """An analyst and a finance user with their roles' policies; then auth goes on."""
    iam = boto3.client(
        "iam",
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    prefix = template["Outputs"]["NamePrefix"]["Value"]
    clients: dict[str, Any] = {}
    for person in ("analyst", "finance"):
        iam.create_user(UserName=person)
        for n, document in enumerate(_role_policies(template, f"{prefix}-{person}")):
            iam.put_user_policy(
                UserName=person, PolicyName=f"{person}-{n}", PolicyDocument=json.dumps(document)
            )
        key = iam.create_access_key(UserName=person)["AccessKey"]
        clients[person] = lake.client(key["AccessKeyId"], key["SecretAccessKey"])
    request = urllib.request.Request(
        f"{moto_server}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        # not form-encoded: moto reads the raw body as the count
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=5).read()
    return clients


def _denied(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        return status == 403 or exc.response["Error"]["Code"] == "AccessDenied"
    return False


def test_the_analyst_is_denied_every_read_of_raw_salaries(
    principals: dict[str, Any], lake: Lake
) -> None:
    s3 = principals["analyst"]
    salaries = lake.keys[schemas.RAW_SALARIES.name]
    assert _denied(s3.get_object, Bucket=lake.finance_bucket, Key=salaries)
    assert _denied(s3.head_object, Bucket=lake.finance_bucket, Key=salaries)
    assert _denied(s3.list_objects_v2, Bucket=lake.finance_bucket)
    assert _denied(
        s3.list_objects_v2, Bucket=lake.finance_bucket, Prefix=schemas.RAW_SALARIES.prefix
    )
    assert _denied(
        s3.get_object_attributes,
        Bucket=lake.finance_bucket,
        Key=salaries,
        ObjectAttributes=["ObjectSize"],
    )
    # and team totals are finance-only too
    assert _denied(
        s3.get_object,
        Bucket=lake.finance_bucket,
        Key=lake.keys[schemas.SALARIES_TEAM_MONTHLY.name],
    )


def test_the_analyst_reads_the_curated_profit_table(principals: dict[str, Any], lake: Lake) -> None:
    s3 = principals["analyst"]
    body = s3.get_object(Bucket=lake.curated_bucket, Key=lake.keys[schemas.PROFIT_MONTHLY.name])[
        "Body"
    ].read()
    (row,) = pq.read_table(io.BytesIO(body)).to_pylist()
    assert row["profit_cents"] == 500
    assert row["salaries_cents"] == 300  # all teams together: the aggregate analysts may see
    listed = s3.list_objects_v2(Bucket=lake.curated_bucket, Prefix=schemas.PROFIT_MONTHLY.prefix)
    assert listed["KeyCount"] == 1


def test_the_finance_role_reads_raw_salaries(principals: dict[str, Any], lake: Lake) -> None:
    # the control: the deny above is the analyst's policy, not a broken setup
    s3 = principals["finance"]
    body = s3.get_object(Bucket=lake.finance_bucket, Key=lake.keys[schemas.RAW_SALARIES.name])[
        "Body"
    ].read()
    assert pq.read_table(io.BytesIO(body)).column("team").to_pylist() == ["data"]


def test_an_unknown_principal_is_denied_everything(lake: Lake, principals: dict[str, Any]) -> None:
    stranger = lake.client("AKIAUNKNOWN000000000", "nope")
    assert _denied(
        stranger.get_object, Bucket=lake.curated_bucket, Key=lake.keys[schemas.PROFIT_MONTHLY.name]
    )
