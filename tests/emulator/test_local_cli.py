"""`pablo local up/status/tick/down`: lifecycle and the one-line messages for misuse."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pablo import cli
from pablo.local.cli import STOP_TIMEOUT_SECONDS
from pablo.local.context import local_client
from pablo.local.state import PABLO_HOME_ENV, EmulatorState, load_state, save_state


@pytest.fixture
def pablo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(PABLO_HOME_ENV, str(tmp_path))
    yield tmp_path
    state = load_state()
    if state is not None:  # a failed test must not leave a server behind
        cli.main(["local", "down"])


def _pablo(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["local", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_down_when_nothing_runs_says_so_in_one_line(
    pablo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given no emulator started in this PABLO_HOME
    # when it is stopped
    code, _, err = _pablo(capsys, "down")

    # then a single clear line, no traceback
    assert code == 1
    assert err.count("\n") == 1
    assert "the emulator is not running" in err
    assert "Traceback" not in err


def test_stale_pid_is_reported_and_cleared(
    pablo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a state file left by a process that is gone
    gone = subprocess.Popen(["true"])
    gone.wait()
    save_state(EmulatorState("http://localhost:1", 1, gone.pid, "2026-01-01T00:00:00+00:00"))

    # when status is asked
    code, _, err = _pablo(capsys, "status")

    # then one line says the state was stale, and it is removed
    assert code == 1
    assert f"pid {gone.pid}" in err and "stale state removed" in err
    assert load_state() is None


def test_up_status_tick_double_up_and_down(
    pablo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a detached emulator started at a chosen time
    code, out, _ = _pablo(capsys, "up", "--detach", "--port", "0", "--clock-start", "2026-01-05")
    assert code == 0, out
    state = load_state()
    assert state is not None and f"pid {state.pid}" in out
    assert (pablo_home / "local" / "server.log").is_file()

    # when a stack with outputs is deployed and status is asked
    template = {
        "Resources": {"Inbox": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"InboxUrl": {"Value": {"Ref": "Inbox"}}},
    }
    local_client("cloudformation", state.endpoint).create_stack(
        StackName="PabloPipelines", TemplateBody=json.dumps(template)
    )
    code, out, _ = _pablo(capsys, "status", "--json")

    # then it reports endpoint, pid, simulated clock and the stack's outputs
    assert code == 0
    report = json.loads(out)
    assert report["endpoint"] == state.endpoint and report["pid"] == state.pid
    assert report["clock"].startswith("2026-01-05T00:0")
    assert report["stack"]["status"] == "CREATE_COMPLETE"
    assert "InboxUrl" in report["stack"]["outputs"]

    # when the clock is ticked forward, then backward
    code, out, _ = _pablo(capsys, "tick", "--by", "2d", "--step", "1d")
    assert code == 0 and "2 steps" in out and "-> 2026-01-07T00:0" in out
    code, _, err = _pablo(capsys, "tick", "--to", "2026-01-06T00:00:00Z")
    assert code == 1 and "cannot go back" in err

    # when it is started a second time
    code, _, err = _pablo(capsys, "up", "--detach", "--port", "0")
    assert code == 1
    assert f"already running at {state.endpoint} (pid {state.pid})" in err

    # when it is stopped
    code, out, _ = _pablo(capsys, "down")

    # then it is gone, by its own pid, and the state file with it
    assert code == 0 and f"emulator stopped (pid {state.pid})" in out
    assert load_state() is None
    code, _, err = _pablo(capsys, "status")
    assert code == 1 and "not running" in err


SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(event['seconds'])\n"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper has already ended)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def _children(pid: int) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True
    ).stdout
    return [int(line) for line in found.split()]


def test_down_stops_a_busy_emulator_on_sigterm_leaving_no_process_behind(
    pablo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a detached emulator in the middle of a 5-minute Lambda invocation
    code, out, _ = _pablo(capsys, "up", "--detach", "--port", "0")
    assert code == 0, out
    state = load_state()
    assert state is not None
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", SLEEPER)
    lambda_client = local_client("lambda", state.endpoint)
    role = local_client("iam", state.endpoint).create_role(
        RoleName="sleeper", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    lambda_client.create_function(
        FunctionName="sleeper",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
        Timeout=900,
    )

    def invoke() -> None:
        # the emulator going away mid-call is the point: the call's own error is not
        with contextlib.suppress(Exception):
            lambda_client.invoke(FunctionName="sleeper", Payload=json.dumps({"seconds": 300}))

    threading.Thread(target=invoke, daemon=True).start()
    deadline = time.monotonic() + 60
    while not _children(state.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = _children(state.pid)
    assert workers, "the invocation's Lambda environment never started"

    # when it is stopped
    started = time.monotonic()
    code, out, err = _pablo(capsys, "down")
    took = time.monotonic() - started

    # then SIGTERM was enough (no SIGKILL), within the wait
    assert code == 0 and f"emulator stopped (pid {state.pid})" in out
    assert "ignored SIGTERM" not in err
    assert took < STOP_TIMEOUT_SECONDS
    # and neither it nor the busy Lambda environment outlives the stop (a process that has
    # released its memory may take a moment more to leave the process table)
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in [state.pid, *workers]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(state.pid)
    orphans = [pid for pid in workers if _alive(pid)]
    assert not orphans, f"Lambda environments left running: {orphans}"
    # and its log says why it stopped
    log = (pablo_home / "local" / "server.log").read_text()
    assert "stopping on SIGTERM" in log and "emulator stopped" in log
