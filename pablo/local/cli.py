"""`pablo local ...`: start, inspect, tick, deploy to and stop the embedded emulator."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Final

from botocore.exceptions import ClientError

from functions.core.errors import PabloError
from pablo.local.context import local_client
from pablo.local.control import ControlApiError, ControlClient, parse_duration
from pablo.local.server import (
    BIND_ADDRESS,
    LOG_PATH_ENV,
    STOP_GRACE_SECONDS,
    serve,
)
from pablo.local.state import (
    SERVER_MODULE,
    EmulatorAlreadyRunningError,
    EmulatorNotRunningError,
    EmulatorState,
    clear_state,
    is_emulator_process,
    load_state,
    local_dir,
    running_state,
)
from pablo.query.output import JSON
from pablo.stack import command_target

START_TIMEOUT_SECONDS: Final = 60.0
STOP_TIMEOUT_SECONDS: Final = STOP_GRACE_SECONDS + 5.0


# up / down
def _refuse_if_running() -> None:
    state = load_state()
    if state is None:
        return
    if is_emulator_process(state.pid):
        raise EmulatorAlreadyRunningError(
            f"the emulator is already running at {state.endpoint} (pid {state.pid}); "
            "stop it with `pablo local down`"
        )
    clear_state()
    print(f"pablo: removed stale emulator state (pid {state.pid} is gone)", file=sys.stderr)


def _refuse_if_port_taken(port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((BIND_ADDRESS, port))
        except OSError as exc:
            raise EmulatorAlreadyRunningError(
                f"port {port} is in use ({exc.strerror}); choose another with --port"
            ) from exc


def cmd_up(args: argparse.Namespace) -> int:
    _refuse_if_running()
    _refuse_if_port_taken(args.port)
    if not args.detach:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        return serve(
            port=args.port,
            clock_start=args.clock_start,
            record_state=True,
            enforce_iam=args.enforce_iam,
        )
    state = _start_detached(args.port, args.clock_start, enforce_iam=args.enforce_iam)
    print(f"emulator running at {state.endpoint} (pid {state.pid}); log {state.log_path}")
    return 0


def _start_detached(port: int, clock_start: Any, *, enforce_iam: bool = False) -> EmulatorState:
    log_path = local_dir() / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", SERVER_MODULE, "--port", str(port)]
    if clock_start is not None:
        command += ["--clock-start", clock_start.isoformat()]
    if enforce_iam:
        command.append("--enforce-iam")
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, LOG_PATH_ENV: str(log_path)},
            start_new_session=True,  # outlives this command and its terminal
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise PabloError(
                f"the emulator exited during start (code {child.returncode}): "
                f"{_last_line(log_path)} (log {log_path})"
            )
        state = load_state()
        if state is not None and state.pid == child.pid:
            try:
                ControlClient(state.endpoint).health()
                return state
            except ControlApiError:
                pass
        time.sleep(0.1)
    child.kill()
    raise PabloError(f"the emulator did not become healthy in time; see {log_path}")


def _last_line(path: Any) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def cmd_down(args: argparse.Namespace) -> int:
    state = running_state()
    os.kill(state.pid, signal.SIGTERM)
    if not _wait_gone(state.pid, STOP_TIMEOUT_SECONDS):
        os.kill(state.pid, signal.SIGKILL)
        _wait_gone(state.pid, STOP_TIMEOUT_SECONDS)
        print(f"pablo: emulator pid {state.pid} ignored SIGTERM; killed", file=sys.stderr)
    clear_state(pid=state.pid)
    print(f"emulator stopped (pid {state.pid})")
    return 0


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Reap it if it is our own child (`up --detach` earlier in this process).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not is_emulator_process(pid):
            return True
        time.sleep(0.05)
    return False


# status / tick / deploy
def _stack_outputs(endpoint: str, stack_name: str) -> dict[str, Any] | None:
    """The stack's status and outputs, or None if it is not deployed."""
    cloudformation = local_client("cloudformation", endpoint)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError:
        return None
    if not stacks:
        return None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return {"name": stack_name, "status": stacks[0]["StackStatus"], "outputs": outputs}


def cmd_status(args: argparse.Namespace) -> int:
    state = running_state()
    try:
        health = ControlClient(state.endpoint).health()
    except ControlApiError as exc:
        raise EmulatorNotRunningError(
            f"pid {state.pid} is alive but the emulator does not answer at {state.endpoint}"
        ) from exc
    report = {
        "endpoint": state.endpoint,
        "pid": state.pid,
        "port": state.port,
        "started_at": state.started_at,
        "clock": health["clock"],
        "extensions": health["extensions"],
        "stack": _stack_outputs(state.endpoint, args.stack_name),
    }
    if args.output_format == JSON:
        print(json.dumps(report, indent=2))
        return 0
    print(f"endpoint   {report['endpoint']} (pid {report['pid']}, since {report['started_at']})")
    print(f"clock      {report['clock']}")
    print(f"extensions {', '.join(report['extensions'])}")
    stack = report["stack"]
    if stack is None:
        print(f"stack      {args.stack_name} not deployed (run `pablo local deploy`)")
    else:
        print(f"stack      {stack['name']} {stack['status']}")
        for key, value in sorted(stack["outputs"].items()):
            print(f"  {key} = {value}")
    return 0


def cmd_tick(args: argparse.Namespace) -> int:
    state = running_state()
    client = ControlClient(state.endpoint)
    step = parse_duration(args.step) if args.step else None
    by = parse_duration(args.by) if args.by else None
    result = client.advance(to=args.to, by=by, step=step, settle=not args.no_settle)
    if args.output_format == JSON:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"clock {result['old']} -> {result['now']}: {result['steps']} steps, "
        f"{len(result['events'])} events"
    )
    for event in result["events"]:
        print(f"  {json.dumps(event, default=str)}")
    if result["unsettled"]:
        print(f"pablo: {result['unsettled']} executions still running", file=sys.stderr)
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """Into the target every command finds, except AWS itself (`pablo.stack.resolve_target`):
    `--endpoint`, $PABLO_ENDPOINT or the running embedded emulator."""
    from pablo.local.deploy import deploy  # noqa: PLC0415 (CDK synth: only this command)

    target = command_target(args, allow_aws=False)
    assert target.endpoint is not None  # allow_aws=False: an endpoint or NoTargetError
    return int(deploy(target.endpoint, stack_name=args.stack_name))
