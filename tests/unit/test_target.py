"""Which target a command talks to (`pablo.stack.resolve_target`): `--endpoint`, then
$PABLO_ENDPOINT, then the running embedded emulator, then AWS with credentials."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pablo.local.state import (
    PABLO_HOME_ENV,
    SERVER_MODULE,
    EmulatorState,
    save_state,
    state_path,
)
from pablo.stack import (
    PABLO_ENDPOINT_ENV,
    NoTargetError,
    Target,
    TargetSource,
    resolve_target,
    running_emulator_state,
)

OPTION = "http://localhost:4566"
ENVIRONMENT = "http://localhost:4567"
EMULATOR = EmulatorState("http://localhost:5000", 5000, 4242, "2026-12-07T00:00:00+00:00")


def _resolve(
    option: str | None = None,
    *,
    environ: dict[str, str] | None = None,
    emulator: EmulatorState | None = None,
    credentials: str | None = None,
    allow_aws: bool = True,
) -> Target:
    return resolve_target(
        option,
        region="eu-west-1",
        allow_aws=allow_aws,
        environ=environ or {},
        running_emulator=lambda: emulator,
        aws_credentials=lambda region: credentials,
    )


def test_the_option_comes_first() -> None:
    # Given an option, the variable, a running emulator and credentials
    target = _resolve(
        OPTION, environ={PABLO_ENDPOINT_ENV: ENVIRONMENT}, emulator=EMULATOR, credentials="env"
    )
    # Then the option is used, and said
    assert (target.source, target.endpoint) == (TargetSource.OPTION, OPTION)
    assert target.describe() == f"{OPTION} (--endpoint)"


def test_the_variable_comes_before_the_emulator() -> None:
    target = _resolve(environ={PABLO_ENDPOINT_ENV: ENVIRONMENT}, emulator=EMULATOR)
    assert (target.source, target.endpoint) == (TargetSource.ENVIRONMENT, ENVIRONMENT)
    assert target.describe() == f"{ENVIRONMENT} (PABLO_ENDPOINT)"


def test_an_empty_variable_is_unset() -> None:
    target = _resolve(environ={PABLO_ENDPOINT_ENV: ""}, emulator=EMULATOR)
    assert target.source is TargetSource.EMULATOR


def test_the_running_emulator_comes_before_aws() -> None:
    target = _resolve(emulator=EMULATOR, credentials="env")
    assert (target.source, target.endpoint) == (TargetSource.EMULATOR, EMULATOR.endpoint)
    assert target.describe() == "embedded emulator at http://localhost:5000 (running, pid 4242)"


def test_aws_last_with_where_its_credentials_come_from() -> None:
    target = _resolve(credentials="shared-credentials-file")
    assert (target.source, target.endpoint, target.region) == (
        TargetSource.AWS,
        None,
        "eu-west-1",
    )
    assert target.describe() == "AWS in eu-west-1 (credentials: shared-credentials-file)"


def test_nothing_to_talk_to_is_one_clear_error() -> None:
    # Given no option, no variable, no emulator and no credentials / Then it says all four
    with pytest.raises(NoTargetError) as raised:
        _resolve()
    message = str(raised.value)
    assert "no --endpoint" in message and f"{PABLO_ENDPOINT_ENV} unset" in message
    assert "no emulator running" in message and "no AWS credentials" in message


def test_a_deploy_never_falls_back_to_aws() -> None:
    # Given credentials but nothing else / When an endpoint is required (the local deploy)
    with pytest.raises(NoTargetError, match="nothing to deploy into"):
        _resolve(credentials="env", allow_aws=False)


@pytest.fixture
def pablo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PABLO_HOME_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture
def server_like_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line names the emulator's server module."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", SERVER_MODULE])
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while SERVER_MODULE.encode() not in cmdline.read_bytes():  # until its exec is done
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield process
    process.kill()
    process.wait()


def test_the_emulator_is_found_by_its_state_file(
    pablo_home: Path, server_like_process: subprocess.Popen[bytes]
) -> None:
    # Given a state file recording a live emulator process
    state = EmulatorState("http://localhost:5999", 5999, server_like_process.pid, "now")
    save_state(state)
    # Then the emulator is the target, with no option and no variable
    assert running_emulator_state() == state
    target = resolve_target(None, environ={})
    assert target.describe() == (
        f"embedded emulator at http://localhost:5999 (running, pid {server_like_process.pid})"
    )


def test_a_stale_state_file_is_no_emulator(pablo_home: Path) -> None:
    # Given a state file whose process is gone
    gone = subprocess.Popen(["true"])
    gone.wait()
    save_state(EmulatorState("http://localhost:5998", 5998, gone.pid, "then"))
    # Then no emulator is running, and without credentials nothing is found
    assert state_path().is_file() and running_emulator_state() is None
    with pytest.raises(NoTargetError):
        resolve_target(None, environ={}, aws_credentials=lambda region: None)
