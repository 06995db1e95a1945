"""Helpers every emulator-backed test shares.

Tests share one emulator server, so give resources unique names (`unique_name("bucket")`);
deliveries and workflows are asynchronous, as in AWS, so poll with `wait_for`. Tests of
one emulator part against stock moto start their own server with `threaded_moto`. What
tests build beside the stack (a state table, the registry's Glue tables, a workgroup, a
function from the `functions` package) is made here, once for all of them.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import requests
from moto.server import ThreadedMotoServer

from functions.core import schemas

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[1]


class Clients(Protocol):
    """Anything that hands out boto3 clients of one emulator (a server, a rig)."""

    def client(self, service: str) -> Any: ...


def unique_name(prefix: str) -> str:
    """A resource name no other test in the session uses (lowercase: valid for S3 too)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 90.0, interval: float = 0.5
) -> T:
    """Poll until `probe` returns something truthy (deliveries and workflows are
    asynchronous, as in AWS); fail with `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    """A TCP port on localhost nothing listens on (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def threaded_moto() -> Iterator[str]:
    """Stock moto in this process on a free port (none of the emulator's patches); its
    endpoint. Reset and stopped when the block ends."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="localhost", port=port, verbose=False)
    server.start()
    endpoint = f"http://localhost:{port}"
    try:
        yield endpoint
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()


def zip_package(root: Path, package: str) -> bytes:
    """`package` (a folder under `root`) as a Lambda zip, without caches."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((root / package).rglob("*.py")):
            archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def deploy_functions_package(
    aws: Clients,
    *,
    name: str,
    handler: str,
    environment: dict[str, str],
    timeout: int,
    memory_size: int = 128,
) -> dict[str, Any]:
    """A function (unique name from `name`, a role of its own) running `handler` from this
    repository's `functions` package, as the stack deploys it; the CreateFunction answer."""
    role = aws.client("iam").create_role(
        RoleName=unique_name("role"), AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    created: dict[str, Any] = aws.client("lambda").create_function(
        FunctionName=unique_name(name),
        Runtime="python3.12",
        Role=role,
        Handler=handler,
        Code={"ZipFile": zip_package(REPO_ROOT, "functions")},
        Timeout=timeout,
        MemorySize=memory_size,
        Environment={"Variables": environment},
    )
    return created


def state_table(dynamodb: Any, name: str | None = None) -> str:
    """A DynamoDB table keyed as the stack's state table (pk, sk), on demand, through the
    `dynamodb` client (a unique name unless `name` is given); its name."""
    name = name or unique_name("state")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def glue_database(
    aws: Clients, name: str, tables: Iterable[schemas.Table], bucket: str | None = None
) -> str:
    """A Glue database `name` holding the registry's `tables` (located under `bucket` when
    given, as the stack's catalog has them); its name."""
    glue = aws.client("glue")
    glue.create_database(DatabaseInput={"Name": name})
    for table in tables:
        descriptor: dict[str, Any] = {
            "Columns": [{"Name": c["name"], "Type": c["type"]} for c in table.glue_columns()]
        }
        if bucket is not None:
            descriptor["Location"] = f"s3://{bucket}/{table.prefix}/"
        glue.create_table(
            DatabaseName=name,
            TableInput={
                "Name": table.name,
                "StorageDescriptor": descriptor,
                "PartitionKeys": [
                    {"Name": c["name"], "Type": c["type"]} for c in table.glue_partition_keys()
                ],
            },
        )
    return name


def athena_workgroup(athena: Any, results: str, *, cutoff: int | None = None) -> str:
    """A workgroup enforcing a result location in bucket `results`, and at most `cutoff`
    bytes scanned per query when given; its name."""
    name = unique_name("pipelines")
    configuration: dict[str, Any] = {
        "ResultConfiguration": {"OutputLocation": f"s3://{results}/{name}/"},
        "EnforceWorkGroupConfiguration": True,
    }
    if cutoff is not None:
        configuration["BytesScannedCutoffPerQuery"] = cutoff
    athena.create_work_group(Name=name, Configuration=configuration)
    return name


@contextlib.contextmanager
def function_environment(aws: Clients, function: str, changes: dict[str, str]) -> Iterator[None]:
    """`function` runs with `changes` to its environment in the block, and with its own
    environment again once the block ends (so later tests see the deployed function)."""
    functions = aws.client("lambda")
    configuration = functions.get_function_configuration(FunctionName=function)
    variables = configuration["Environment"]["Variables"]
    functions.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**variables, **changes}}
    )
    try:
        yield
    finally:
        functions.update_function_configuration(
            FunctionName=function, Environment={"Variables": variables}
        )
