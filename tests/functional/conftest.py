"""Shared fixtures for functional tests: one emulator server per test session.

`emulator_server` starts `python -m pablo.local.server` (the real emulator process: moto
server, patches, Lambda runtime, extensions, control API) on a free port, in a temporary
PABLO_HOME, and stops it at the end of the session. Create clients from it inside tests or
fixtures (after it started): `emulator_server.client("s3")`. Tests share the server, so give
resources unique names (`unique_name("bucket")`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pablo.local.context import local_client
from pablo.local.control import ControlApiError, ControlClient
from pablo.local.state import PABLO_HOME_ENV

SERVER_START_TIMEOUT = 60.0


@dataclass
class EmulatorServer:
    endpoint: str
    pid: int
    home: Path
    log_path: Path
    control: ControlClient
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = local_client(service, self.endpoint)
        return self._clients[service]


def unique_name(prefix: str) -> str:
    """A resource name no other test in the session uses (lowercase: valid for S3 too)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _wait_for_state(home: Path, process: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    state_file = home / "local" / "state.json"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited at start:\n{log_path.read_text()}")
        if state_file.is_file():
            state: dict[str, Any] = json.loads(state_file.read_text())
            try:
                ControlClient(state["endpoint"]).health()
                return state
            except ControlApiError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"emulator not healthy in time:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """The emulator process, started once per session on a free port."""
    home = tmp_path_factory.mktemp("pablo-home")
    log_path = home / "server.log"
    env = {**os.environ, PABLO_HOME_ENV: str(home)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pablo.local.server", "--port", "0"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
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
