"""Fixtures shared by every test layer that needs the emulator.

`start_emulator` runs the real emulator process (`python -m pablo.local.server`) on a free
port in its own PABLO_HOME. `deployed_stack` is that emulator with the real stack deployed
into it by the real CDK CLI (`pablo.local.deploy.deploy`), once per test module: a module
sets `CLOCK_START = "YYYY-MM-DDTHH:MM:SSZ"` to choose where its emulator clock starts (the
clock only moves forward, so modules that replay dated data get their own).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.config import STACK_NAME
from pablo.local.context import local_client
from pablo.local.control import ControlApiError, ControlClient
from pablo.local.state import PABLO_HOME_ENV

SERVER_START_TIMEOUT = 60.0
DEFAULT_CLOCK_START = "2026-08-31T00:00:00+00:00"


@dataclass
class EmulatorServer:
    endpoint: str
    pid: int
    home: Path
    log_path: Path
    control: ControlClient
    outputs: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = local_client(service, self.endpoint)
        return self._clients[service]


def _wait_for_state(home: Path, process: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    state_file = home / "local" / "state.json"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited at start:\n{log_path.read_text()}")
        if state_file.is_file():
            state: dict[str, Any] = json.loads(state_file.read_text())
            with contextlib.suppress(ControlApiError):
                ControlClient(state["endpoint"]).health()
                return state
        time.sleep(0.1)
    raise RuntimeError(f"emulator not healthy in time:\n{log_path.read_text()}")


@contextlib.contextmanager
def start_emulator(
    home: Path,
    *,
    clock_start: str | None = None,
    environment: dict[str, str] | None = None,
    enforce_iam: bool = False,
) -> Iterator[EmulatorServer]:
    """The emulator process on a free port, stopped (SIGTERM, then SIGKILL) on exit;
    `environment` adds variables to its own (e.g. MOTO_ACCOUNT_ID)."""
    log_path = home / "server.log"
    env = {**os.environ, **(environment or {}), PABLO_HOME_ENV: str(home)}
    command = [sys.executable, "-m", "pablo.local.server", "--port", "0"]
    if clock_start is not None:
        command += ["--clock-start", clock_start]
    if enforce_iam:
        command.append("--enforce-iam")
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        state = _wait_for_state(home, process, log_path)
        yield EmulatorServer(
            endpoint=state["endpoint"],
            pid=process.pid,
            home=home,
            log_path=log_path,
            control=ControlClient(state["endpoint"]),
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """The emulator process, started once per session on a free port (clock: wall time)."""
    with start_emulator(tmp_path_factory.mktemp("pablo-home")) as server:
        yield server


# A deploy that fails for the machine's sake (under heavy load the CLI's CreateStack call
# can time out while moto is still creating resources; its retry then meets them) is tried
# once more on a fresh emulator; a second failure fails the module.
DEPLOY_ATTEMPTS = 2


@pytest.fixture(scope="module")
def deployed_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatorServer]:
    """A fresh emulator with the real stack deployed by the real CDK CLI, per module (a
    module's CLOCK_START sets its clock, ENFORCE_IAM = True turns IAM enforcement on)."""
    clock_start = getattr(request.module, "CLOCK_START", DEFAULT_CLOCK_START)
    enforce_iam = bool(getattr(request.module, "ENFORCE_IAM", False))
    for attempt in range(1, DEPLOY_ATTEMPTS + 1):
        home = tmp_path_factory.mktemp("pablo-deployed")
        with start_emulator(home, clock_start=clock_start, enforce_iam=enforce_iam) as server:
            if not _deploy_into(server, home):
                message = f"the local deploy failed (attempt {attempt}); log: {server.log_path}"
                if attempt == DEPLOY_ATTEMPTS:
                    pytest.fail(message)
                print(message, "- retrying on a fresh emulator", file=sys.stderr)
                continue
            stack = server.client("cloudformation").describe_stacks(StackName=STACK_NAME)
            server.outputs = {
                o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0].get("Outputs", [])
            }
            yield server
            return


def _deploy_into(server: EmulatorServer, home: Path) -> bool:
    from pablo.local.deploy import DeployError, deploy  # noqa: PLC0415

    previous = os.environ.get(PABLO_HOME_ENV)
    os.environ[PABLO_HOME_ENV] = str(home)  # the deploy's fidelity report goes here
    try:
        return deploy(server.endpoint, stack_name=STACK_NAME) == 0
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return False
    finally:
        if previous is None:
            os.environ.pop(PABLO_HOME_ENV, None)
        else:
            os.environ[PABLO_HOME_ENV] = previous
