"""Every `pablo` command that talks to AWS finds its target the same way, as a user runs it
(a real `python -m pablo` process): `PABLO_ENDPOINT` makes `pablo local deploy` deploy
there; with no option and no variable, `send-clicks` and `run monthly` find the running
embedded emulator through its state file, and `send-clicks` streams to the deployed stack's
click stream. One deploy for the module: the deploy under test is the fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pablo.local.state import PABLO_HOME_ENV
from pablo.stack import PABLO_ENDPOINT_ENV
from tests.conftest import STACK_NAME, EmulatorServer, start_emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_TIMEOUT_SECONDS = 900
T0 = 1_788_048_000_000  # 2026-08-30T00:00:00Z in epoch ms


@dataclass
class DeployedByVariable:
    server: EmulatorServer
    deploy: subprocess.CompletedProcess[str]
    deploy_home: Path


def _environment(**extra: str) -> dict[str, str]:
    """This process's environment without any target or AWS setting, plus `extra`: what
    the command finds, it finds by itself."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "PABLO_")) or k == "AWS_CA_BUNDLE"
    }
    # No credentials from the user's files or an instance role either.
    kept.update(
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return {**kept, **extra}


def _pablo(
    *argv: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pablo", *argv],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def deployed_by_variable(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DeployedByVariable]:
    """An emulator, and `PABLO_ENDPOINT=<its endpoint> pablo local deploy` run from a
    PABLO_HOME where no emulator is recorded: only the variable can lead there."""
    home = tmp_path_factory.mktemp("pablo-home")
    with start_emulator(home) as server:
        deploy_home = tmp_path_factory.mktemp("no-emulator-here")
        env = _environment(
            **{PABLO_HOME_ENV: str(deploy_home), PABLO_ENDPOINT_ENV: server.endpoint}
        )
        done = _pablo("local", "deploy", env=env, timeout=DEPLOY_TIMEOUT_SECONDS)
        yield DeployedByVariable(server, done, deploy_home)


def test_pablo_endpoint_makes_local_deploy_deploy_there(
    deployed_by_variable: DeployedByVariable,
) -> None:
    server, done = deployed_by_variable.server, deployed_by_variable.deploy
    # Then the deploy succeeded and said where it went
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"pablo: target: {server.endpoint} ({PABLO_ENDPOINT_ENV})" in done.stderr.splitlines()
    # and the stack is in that emulator, with its fidelity report in the deploy's PABLO_HOME
    stack = server.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    assert stack["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    report = json.loads((deployed_by_variable.deploy_home / "local" / "fidelity.json").read_text())
    assert report["endpoint"] == server.endpoint


def _outputs(server: EmulatorServer) -> dict[str, str]:
    stack = server.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _emulator_line(server: EmulatorServer) -> str:
    return f"pablo: target: embedded emulator at {server.endpoint} (running, pid {server.pid})"


def test_send_clicks_finds_the_emulator_and_the_stacks_stream(
    deployed_by_variable: DeployedByVariable, tmp_path: Path
) -> None:
    server = deployed_by_variable.server
    assert deployed_by_variable.deploy.returncode == 0, "the deploy failed: see the test above"
    # Given three clicks, and only the emulator's PABLO_HOME (no option, no variable)
    event_ids = [f"cli-target-{i}" for i in range(3)]
    clicks = tmp_path / "clicks.jsonl"
    clicks.write_text(
        "".join(
            json.dumps(
                {
                    "event_id": event_id,
                    "account_id": "acct-1",
                    "user_id": "u1",
                    "event_type": "click",
                    "event_time": T0 + i,
                }
            )
            + "\n"
            for i, event_id in enumerate(event_ids)
        )
    )
    env = _environment(**{PABLO_HOME_ENV: str(server.home)})
    # When they are sent with no --stream and no --endpoint
    done = _pablo("send-clicks", str(clicks), "--spill", str(tmp_path / "spill.jsonl"), env=env)
    # Then the command found the running emulator and the stack's click stream, said so,
    # and sent everything (nothing spilled)
    stream = _outputs(server)["ClickStreamName"]
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [_emulator_line(server)]
    assert done.stdout.startswith(f"sent 3 clicks to {stream} in 1 calls")
    # and the clicks are in that stream
    kinesis = server.client("kinesis")
    landed = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        landed += [
            json.loads(r["Data"])["event_id"]
            for r in kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
        ]
    assert set(event_ids) <= set(landed)


def test_send_clicks_to_a_missing_stream_says_why_it_spilled(
    deployed_by_variable: DeployedByVariable, tmp_path: Path
) -> None:
    server = deployed_by_variable.server
    # Given a click and a stream that does not exist
    clicks = tmp_path / "clicks.jsonl"
    clicks.write_text(json.dumps({"event_id": "spilled-0", "event_time": T0}) + "\n")
    env = _environment(**{PABLO_HOME_ENV: str(server.home)})
    # When it is sent there
    spill = tmp_path / "spill.jsonl"
    done = _pablo("send-clicks", str(clicks), "--stream", "nope", "--spill", str(spill), env=env)
    # Then it is spilled, exit code 1, and stderr says why in one line after the target's
    assert done.returncode == 1, done.stderr
    target, why = done.stderr.splitlines()
    assert target == _emulator_line(server)
    assert why.startswith("pablo: spilled 1 clicks: ") and "ResourceNotFoundException" in why
    assert len(spill.read_text().splitlines()) == 1


def test_run_monthly_finds_the_emulator(deployed_by_variable: DeployedByVariable) -> None:
    server = deployed_by_variable.server
    assert deployed_by_variable.deploy.returncode == 0, "the deploy failed: see the test above"
    env = _environment(**{PABLO_HOME_ENV: str(server.home)})
    # When a month is started with no option and no variable
    done = _pablo("run", "monthly", "--month", "2026-07", env=env)
    # Then it found the running emulator, said so, and the execution exists there under
    # the month's name
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [_emulator_line(server)]
    arn = done.stdout.split("(", 1)[1].split(")", 1)[0]
    described = server.client("stepfunctions").describe_execution(executionArn=arn)
    assert described["name"] == "monthly-2026-07"
    machine = _outputs(server)["ExecutiveMonthlyStateMachineArn"]
    assert described["stateMachineArn"] == machine


def test_with_nothing_running_a_command_says_so_at_once(tmp_path: Path) -> None:
    # Given no emulator in this PABLO_HOME, no variable, no option and no AWS credentials
    env = _environment(**{PABLO_HOME_ENV: str(tmp_path)})
    # When a command that talks to AWS runs
    done = _pablo("run", "monthly", "--month", "2026-07", env=env, timeout=60)
    # Then it stops with one line saying what it looked for, exit code 2 (configuration)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("pablo: no target: no --endpoint, PABLO_ENDPOINT unset, ")
    assert "no AWS credentials found" in line
