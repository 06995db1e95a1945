"""Lambda functions run their deployed code in the emulator (pablo.local.lambda_runtime)."""

from __future__ import annotations

import base64
import io
import json
import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import EmulatorServer
from tests.support import unique_name

HANDLER = textwrap.dedent(
    """
    import os
    import time

    import boto3

    INVOCATIONS = 0  # module state survives between invocations of a warm environment


    class TransientUpstreamError(Exception):
        pass


    def handler(event, context):
        global INVOCATIONS
        INVOCATIONS += 1
        print(f"marker {event.get('marker')}")
        if event.get("fail"):
            raise TransientUpstreamError(f"upstream down for {event['marker']}")
        if event.get("sleep"):
            time.sleep(event["sleep"])
        bucket = os.environ["OUTPUT_BUCKET"]
        boto3.client("s3").put_object(Bucket=bucket, Key=event["marker"], Body=b"written")
        return {
            "bucket": bucket,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function_name": context.function_name,
            "memory": context.memory_limit_in_mb,
            "request_id": context.aws_request_id,
            "invocations": INVOCATIONS,
            "environment": context.log_stream_name,
        }
    """
)


def _zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _role(emulator: EmulatorServer) -> str:
    name = unique_name("lambda-role")
    role = emulator.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")
    return str(role["Role"]["Arn"])


def _invoke(emulator: EmulatorServer, name: str, event: dict[str, Any]) -> dict[str, Any]:
    response = emulator.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(event), LogType="Tail"
    )
    return {
        "error": response.get("FunctionError"),
        "payload": json.loads(response["Payload"].read()),
        "log_tail": base64.b64decode(response["LogResult"]).decode(),
    }


def _create_runner(emulator: EmulatorServer, bucket: str) -> str:
    name = unique_name("runner")
    emulator.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=_role(emulator),
        Handler="app.handler",
        Code={"ZipFile": _zip({"app.py": HANDLER})},
        Timeout=2,
        MemorySize=256,
        Environment={"Variables": {"OUTPUT_BUCKET": bucket}},
    )
    return name


@pytest.fixture(scope="module")
def function(emulator_server: EmulatorServer) -> dict[str, str]:
    bucket = unique_name("lambda-out")
    emulator_server.client("s3").create_bucket(Bucket=bucket)
    return {"name": _create_runner(emulator_server, bucket), "bucket": bucket}


def test_handler_runs_deployed_code_reads_env_and_reaches_emulator_s3(
    emulator_server: EmulatorServer, function: dict[str, str]
) -> None:
    # given a function created through the Lambda API from a zip
    # when it is invoked
    result = _invoke(emulator_server, function["name"], {"marker": "run-1"})

    # then its code ran with its environment, and its boto3 call reached the emulator
    assert result["error"] is None
    assert result["payload"]["bucket"] == function["bucket"]
    assert result["payload"]["function_name"] == function["name"]
    assert result["payload"]["memory"] == 256
    stored = emulator_server.client("s3").get_object(Bucket=function["bucket"], Key="run-1")
    assert stored["Body"].read() == b"written"


def test_remaining_time_is_positive_and_below_the_timeout(
    emulator_server: EmulatorServer, function: dict[str, str]
) -> None:
    # given a function with a 2 second timeout
    # when it is invoked
    payload = _invoke(emulator_server, function["name"], {"marker": "time"})["payload"]

    # then the context reports the time left of those 2 seconds
    assert 0 < payload["remaining_ms"] < 2000


def test_warm_environment_is_reused_between_invocations(
    emulator_server: EmulatorServer, function: dict[str, str]
) -> None:
    # given one invocation done
    first = _invoke(emulator_server, function["name"], {"marker": "warm-1"})["payload"]

    # when a second one follows
    second = _invoke(emulator_server, function["name"], {"marker": "warm-2"})["payload"]

    # then the same process served it (module state kept), with a new request id
    assert second["invocations"] == first["invocations"] + 1
    assert second["request_id"] != first["request_id"]


def test_concurrent_invocations_use_parallel_environments_up_to_the_cap(
    emulator_server: EmulatorServer, function: dict[str, str]
) -> None:
    # given six invocations of one function started together, each busy for a moment
    events = [{"marker": f"parallel-{i}", "sleep": 0.5} for i in range(6)]

    # when they run
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda e: _invoke(emulator_server, function["name"], e), events))

    # then all succeed, served by more than one environment but no more than the cap (3)
    assert all(r["error"] is None for r in results)
    environments = {r["payload"]["environment"] for r in results}
    assert 2 <= len(environments) <= 3


def test_exception_comes_back_as_function_error_with_error_type(
    emulator_server: EmulatorServer, function: dict[str, str]
) -> None:
    # given a handler that raises its own exception class
    # when it is invoked
    result = _invoke(emulator_server, function["name"], {"marker": "bad", "fail": True})

    # then the response is shaped as AWS shapes it
    assert result["error"] == "Unhandled"
    payload = result["payload"]
    assert payload["errorType"] == "TransientUpstreamError"
    assert payload["errorMessage"] == "upstream down for bad"
    assert any("raise TransientUpstreamError" in frame for frame in payload["stackTrace"])
    assert "lambda_worker" not in "".join(payload["stackTrace"])
    assert "[ERROR] TransientUpstreamError: upstream down for bad" in result["log_tail"]


def test_sleeping_past_the_timeout_returns_the_timeout_error_and_recovers(
    emulator_server: EmulatorServer, function: dict[str, str]
) -> None:
    # given a handler (in its only environment) that sleeps longer than its 2 second timeout
    name = _create_runner(emulator_server, function["bucket"])
    started = time.monotonic()

    # when it is invoked
    result = _invoke(emulator_server, name, {"marker": "slow", "sleep": 30})

    # then it is stopped at the timeout with Lambda's error, and the next call works
    assert time.monotonic() - started < 10
    assert result["error"] == "Unhandled"
    assert result["payload"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in result["payload"]["errorMessage"]
    after = _invoke(emulator_server, name, {"marker": "after-timeout"})
    assert after["error"] is None
    assert after["payload"]["invocations"] == 1  # a fresh environment


def test_output_lands_in_cloudwatch_logs_with_start_end_report(
    emulator_server: EmulatorServer, function: dict[str, str]
) -> None:
    # given an invocation that prints a marker
    request_id = _invoke(emulator_server, function["name"], {"marker": "logged-7"})["payload"][
        "request_id"
    ]

    # when the function's log group is read
    events = emulator_server.client("logs").filter_log_events(
        logGroupName=f"/aws/lambda/{function['name']}"
    )["events"]
    messages = [event["message"] for event in events]

    # then the invocation's lines are there, framed like AWS frames them
    assert f"START RequestId: {request_id} Version: $LATEST" in messages
    assert "marker logged-7" in messages
    assert f"END RequestId: {request_id}" in messages
    assert any(m.startswith(f"REPORT RequestId: {request_id}\tDuration:") for m in messages)


def test_layer_content_is_importable_and_native_packages_come_from_the_host(
    emulator_server: EmulatorServer,
) -> None:
    # given a layer built for python3.12: a pure module, and a native package whose cp312
    # extension this interpreter cannot load
    site = "python/lib/python3.12/site-packages"
    layer_zip = _zip(
        {
            "python/shared_util.py": "GREETING = 'from the layer'\n",
            f"{site}/msgspec/__init__.py": "raise ImportError('the cp312 copy was imported')\n",
            f"{site}/msgspec/_core.cpython-312-x86_64-linux-gnu.so": b"\x7fELF not really",
        }
    )
    lam = emulator_server.client("lambda")
    layer = lam.publish_layer_version(LayerName=unique_name("deps"), Content={"ZipFile": layer_zip})
    code = (
        "import msgspec, shared_util\n"
        "def handler(event, context):\n"
        "    return {'greeting': shared_util.GREETING, 'msgspec': msgspec.__file__,\n"
        "            'encoded': msgspec.json.encode({'a': 1}).decode()}\n"
    )
    name = unique_name("layered")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=_role(emulator_server),
        Handler="app.handler",
        Code={"ZipFile": _zip({"app.py": code})},
        Layers=[layer["LayerVersionArn"]],
        Timeout=10,
    )

    # when the function imports both
    result = _invoke(emulator_server, name, {})

    # then the pure module came from the layer and msgspec from this venv
    assert result["error"] is None, result["payload"]
    assert result["payload"]["greeting"] == "from the layer"
    assert (
        ".venv" in result["payload"]["msgspec"] or "site-packages" in result["payload"]["msgspec"]
    )
    assert "/lambda/code/" not in result["payload"]["msgspec"]
    assert result["payload"]["encoded"] == '{"a":1}'


def test_missing_module_fails_like_aws_instead_of_importing_the_source_tree(
    emulator_server: EmulatorServer,
) -> None:
    # given a function whose zip lacks the project package its handler imports
    name = unique_name("no-deps")
    emulator_server.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=_role(emulator_server),
        Handler="app.handler",
        Code={"ZipFile": _zip({"app.py": "import functions.core.env\n"})},
    )

    # when it is invoked
    result = _invoke(emulator_server, name, {})

    # then the import fails, as it would in AWS
    assert result["error"] == "Unhandled"
    assert result["payload"]["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in result["payload"]["errorMessage"]


def test_function_deployed_by_cloudformation_runs_with_its_layer(
    emulator_server: EmulatorServer,
) -> None:
    # given a layer zip and a function zip in an assets bucket, and a template using both
    s3 = emulator_server.client("s3")
    assets = unique_name("assets")
    s3.create_bucket(Bucket=assets)
    s3.put_object(
        Bucket=assets, Key="layer.zip", Body=_zip({"python/shared_util.py": "VALUE = 42\n"})
    )
    s3.put_object(
        Bucket=assets,
        Key="function.zip",
        Body=_zip(
            {"app.py": "import shared_util\ndef handler(e, c):\n    return shared_util.VALUE\n"}
        ),
    )
    name = unique_name("cfn-fn")
    template = {
        "Resources": {
            "Deps": {
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {"Content": {"S3Bucket": assets, "S3Key": "layer.zip"}},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": name,
                    "Runtime": "python3.12",
                    "Handler": "app.handler",
                    "Role": _role(emulator_server),
                    "Code": {"S3Bucket": assets, "S3Key": "function.zip"},
                    "Layers": [{"Ref": "Deps"}],
                },
            },
        }
    }

    # when the stack is created and the function invoked
    emulator_server.client("cloudformation").create_stack(
        StackName=unique_name("layer-stack"), TemplateBody=json.dumps(template)
    )
    result = _invoke(emulator_server, name, {})

    # then the layer was attached (moto alone drops Layers) and its module imported
    assert result["error"] is None, result["payload"]
    assert result["payload"] == 42
