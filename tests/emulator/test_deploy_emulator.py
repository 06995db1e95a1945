"""`pablo.local.deploy` into the real emulator: a code change reaches the running function.

The emulator (`python -m pablo.local.server`) executes Lambda code, so here the deployed
test app's function is invoked, its handler changed, the app redeployed and invoked again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pablo.local.deploy import deploy
from tests.conftest import EmulatorServer, start_emulator

APP_SOURCE = Path(__file__).parent / "deploy_app"
STACK = "DeployAppLive"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with start_emulator(tmp_path_factory.mktemp("pablo-home")) as server:
        yield server


def _deploy(server: EmulatorServer, app_dir: Path) -> str:
    """Deploy the app; returns the worker function's name."""
    exit_code = deploy(
        server.endpoint,
        stack_name=STACK,
        app_dir=app_dir,
        context={"stack_name": STACK},
        report_path=app_dir / "fidelity.json",
    )
    assert exit_code == 0
    stack = server.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "WorkerName")


def _invoke(server: EmulatorServer, function: str) -> dict[str, Any]:
    response = server.client("lambda").invoke(FunctionName=function, Payload=b"{}")
    payload: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def test_redeploy_after_code_and_layer_changes_updates_the_running_function(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # Given the test app deployed into the emulator, its function importing from its layer
    app_dir = tmp_path / "app"
    shutil.copytree(APP_SOURCE, app_dir, ignore=shutil.ignore_patterns("build", "cdk.out"))
    function = _deploy(emulator, app_dir)
    lambda_client = emulator.client("lambda")
    first_sha = lambda_client.get_function(FunctionName=function)["Configuration"]["CodeSha256"]
    assert _invoke(emulator, function) == {"version": "v1", "layer": "hello from the layer"}
    # When the handler and the layer change and the app is deployed again
    handler = app_dir / "handler" / "index.py"
    handler.write_text(handler.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
    layer = app_dir / "layer" / "python" / "deploy_app_layer.py"
    layer.write_text(layer.read_text().replace("hello from the layer", "hello again"))
    assert _deploy(emulator, app_dir) == function
    # Then the function has the new code and the new layer version, and runs both
    second_sha = lambda_client.get_function(FunctionName=function)["Configuration"]["CodeSha256"]
    assert second_sha != first_sha
    assert _invoke(emulator, function) == {"version": "v2", "layer": "hello again"}
