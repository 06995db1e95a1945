"""The `pablo` command line: help without heavy imports, --version, defaults in help, every
command's handler, one-line errors and their exit codes.

The cost of `--help` is checked by what it imports, in a real `python -m pablo` process (a
timed assertion would fail on a busy machine); the CPU seconds are printed (`pytest -s`) and
measured against an anchor by `python -m bench cli`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.core.errors import (
    ConfigurationError,
    PabloError,
    StaleInputError,
    ValidationError,
)
from pablo.cli import EXIT_FAILED, EXIT_USAGE, build_parser, exit_code, main
from pablo.commands import Handler
from pablo.local.state import EmulatorNotRunningError
from pablo.query.output import rows_to_csv, rows_to_json
from pablo.stack import PABLO_ENDPOINT_ENV, NoTargetError

REPO_ROOT = Path(__file__).resolve().parents[2]
# What a `--help` must not import: each costs from a tenth of a second to seconds.
HEAVY_MODULES = (
    "moto",
    "boto3",
    "botocore",
    "pyarrow",
    "duckdb",
    "aws_cdk",
    "jsii",
    "plotly",
    "pandas",
    "awswrangler",
    "sqlglot",
)
# The top level, every command group and a few leaves (the leaves share their group's
# imports: a group's parser module registers all of its commands).
HELP_COMMANDS = (
    (),
    ("generate",),
    ("local",),
    ("local", "up"),
    ("local", "deploy"),
    ("send-clicks",),
    ("backfill", "engagement"),
    ("finance", "signoff"),
    ("run", "monthly"),
    ("oncall", "status"),
    ("oncall", "replay-quarantine"),
    ("report", "preview"),
    ("demo",),
    ("query",),
    ("smoke-check",),
    ("validate",),
)


def _pablo(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


def _imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from `python -X importtime` ("import time: self | cumulative | name")."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    return names


def _cpu_seconds(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, capture_output=True, check=True, cwd=REPO_ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "pablo")
def test_help_imports_no_heavy_module(command: tuple[str, ...]) -> None:
    # Given the real entry point / When a command's help is asked for
    done = _pablo("-X", "importtime", "-m", "pablo", *command, "--help")
    # Then it prints the help
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"usage: pablo {' '.join(command)}".rstrip())
    # and no heavy module (nor any submodule of one) was imported to do it
    imported = _imported_modules(done.stderr)
    assert "pablo.cli" in imported  # the importtime listing is really read
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY_MODULES)
    assert heavy == [], f"`pablo {' '.join(command)} --help` imported {heavy[:10]}"


def test_help_cpu_seconds_are_printed() -> None:
    # Given the CPU time of an interpreter doing nothing, and of three helps
    python = [sys.executable, "-c", "pass"]
    floor = min(_cpu_seconds(python) for _ in range(3))
    helps = {
        " ".join(command) or "pablo": min(
            _cpu_seconds([sys.executable, "-m", "pablo", *command, "--help"]) for _ in range(3)
        )
        for command in ((), ("send-clicks",), ("run", "monthly"), ("query",))
    }
    # Then they are reported (no assertion on time: the machine may be busy; the structural
    # test above is the guarantee, `python -m bench cli` the ratio to an anchor)
    print(f"\npython -c pass: {floor:.3f} CPU s")
    for name, seconds in helps.items():
        print(f"{name} --help: {seconds:.3f} CPU s (target < 0.3)")
    assert all(seconds > 0 for seconds in helps.values())


def test_version_is_the_installed_distribution_version() -> None:
    # When `pablo --version` runs
    done = _pablo("-m", "pablo", "--version")
    # Then it prints the installed pablo-pipelines version
    assert done.returncode == 0
    assert done.stdout == f"pablo {importlib.metadata.version('pablo-pipelines')}\n"


def _leaf_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, parser
    for action in subcommands:
        for name, child in action.choices.items():
            yield from _leaf_parsers(child, (*path, name))


def test_every_command_names_a_function_that_exists() -> None:
    # Given every command of the parser
    leaves = dict(_leaf_parsers(build_parser()))
    assert {" ".join(path) for path in leaves} == {
        "generate",
        *(f"local {c}" for c in ("up", "down", "status", "tick", "deploy")),
        "send-clicks",
        "backfill engagement",
        "finance signoff",
        "run monthly",
        "run weekly",
        *(f"oncall {c}" for c in ("status", "ack", "rotation", "handoff", "replay-quarantine")),
        "report preview",
        "demo",
        "query",
        "smoke-check",
        "validate",
    }
    for path, parser in leaves.items():
        # Then each runs a Handler whose module and function exist
        handler = parser.get_default("func")
        assert isinstance(handler, Handler), path
        assert callable(handler.resolve()), path


def test_a_wrong_handler_name_fails_loudly() -> None:
    # Given a handler naming a function its module lacks / Then resolving it raises
    with pytest.raises(AttributeError):
        Handler("pablo.backfill:no_such_function").resolve()


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    # When the help of a command with defaults is printed
    with pytest.raises(SystemExit):
        main(["send-clicks", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    # Then each default is shown, and the endpoint's help gives the order of targets
    assert "--region REGION AWS region (default: us-east-1)" in out
    assert "(default: PabloPipelines)" in out
    assert "(default: .pablo/spill/clicks.jsonl)" in out
    assert f"default: ${PABLO_ENDPOINT_ENV}, else the running embedded emulator" in out
    # and an option without a default shows none
    assert "(default: None)" not in out and "(default: False)" not in out


def test_a_usage_error_is_one_line_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    # When a required option is missing
    with pytest.raises(SystemExit) as exited:
        main(["run", "monthly"])
    # Then exit code 2 and one line naming the command and where to look
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        "pablo run monthly: the following arguments are required: --month "
        "(see `pablo run monthly --help`)"
    ]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("bad option"), EXIT_USAGE),
        (ValidationError("not a month"), EXIT_USAGE),
        (NoTargetError("no target"), EXIT_USAGE),
        (PabloError("the execution failed"), EXIT_FAILED),
        (EmulatorNotRunningError("not running"), EXIT_FAILED),
        (StaleInputError("upstream stale"), EXIT_FAILED),
    ],
)
def test_exit_codes_by_error_class(error: Exception, code: int) -> None:
    assert exit_code(error) == code


def test_an_aws_sdk_error_is_one_line_with_exit_code_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an endpoint where nothing listens
    monkeypatch.delenv(PABLO_ENDPOINT_ENV, raising=False)
    endpoint = "http://localhost:1"
    # When a command talks to it
    code = main(["run", "monthly", "--month", "2026-09", "--endpoint", endpoint])
    # Then the SDK's error is one line after the target's, exit code 1, no traceback
    assert code == EXIT_FAILED
    assert capsys.readouterr().err.splitlines() == [
        f"pablo: target: {endpoint} (--endpoint)",
        f'pablo: Could not connect to the endpoint URL: "{endpoint}/"',
    ]


@pytest.mark.parametrize(
    ("argv", "output_format"),
    [
        (["oncall", "status"], "text"),
        (["oncall", "status", "--format", "csv"], "csv"),
        (["oncall", "status", "--json"], "json"),
        (["local", "status"], "text"),
        (["local", "tick", "--by", "1h", "--json"], "json"),
        (["query", "SELECT 1"], "table"),
        (["query", "SELECT 1", "--json"], "json"),
    ],
)
def test_one_output_option_for_every_command_that_prints_data(
    argv: list[str], output_format: str
) -> None:
    # When a command that prints data is parsed / Then --format (or --json) says how
    assert build_parser().parse_args(argv).output_format == output_format


def test_a_report_command_refuses_a_tabular_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["local", "status", "--format", "csv"])
    assert exited.value.code == EXIT_USAGE
    assert "invalid choice: 'csv'" in capsys.readouterr().err


def test_rows_render_as_csv_and_json_with_nulls_and_nested_values() -> None:
    # Given records as a command builds them (a null, a nested value, a boolean)
    rows = [
        {"alarm": "a", "ack": None, "enabled": True},
        {"alarm": "b", "ack": {"by": "Alex"}, "enabled": False},
    ]
    # Then CSV has the header, an empty null, compact JSON for the nested value
    assert rows_to_csv(["alarm", "ack", "enabled"], rows).splitlines() == [
        "alarm,ack,enabled",
        "a,,true",
        'b,"{""by"":""Alex""}",false',
    ]
    # and JSON keeps the types
    assert json.loads(rows_to_json(rows)) == rows
    # and no rows still give the header
    assert rows_to_csv(["alarm"], []) == "alarm\n"


def test_the_rotation_needs_no_target(tmp_path: Path) -> None:
    # Given no emulator, no endpoint and no AWS credentials
    env = {
        "PATH": "/usr/bin:/bin",
        "PABLO_HOME": str(tmp_path),
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    # When the rotation is asked for / Then it answers on the wall clock, with no target line
    done = _pablo("-m", "pablo", "oncall", "rotation", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("this week (") and done.stderr == ""
