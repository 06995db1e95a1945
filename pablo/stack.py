"""Where a `pablo` command acts: the deployed stack, on an endpoint or in AWS.

What the commands that talk to AWS share, once: the stack's name, which target they talk
to (`resolve_target`, the one place that decides it), a client for that target, the
stack's outputs, and the run's "now" (the emulator's clock locally, the wall clock in AWS).

The target, in this order: the `--endpoint` option; the `PABLO_ENDPOINT` environment
variable; the embedded emulator recorded as running in `$PABLO_HOME/local/state.json`
(`pablo local up`); AWS with the usual credentials. Each command says on stderr which one
it uses. This module is read to build the command line's parsers: boto3 and botocore are
imported only when a client is made.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from functions.core.errors import ConfigurationError
from infra.config import STACK_NAME
from pablo.local.context import LOCAL_REGION, local_client
from pablo.local.state import EmulatorState, is_emulator_process, load_state, state_path

PABLO_ENDPOINT_ENV: Final = "PABLO_ENDPOINT"


class TargetSource(StrEnum):
    """How the target was found, in the order they are tried."""

    OPTION = "--endpoint"
    ENVIRONMENT = PABLO_ENDPOINT_ENV
    EMULATOR = "embedded emulator"
    AWS = "AWS"


class NoTargetError(ConfigurationError):
    """Nothing to talk to: no endpoint given, no emulator running, no AWS credentials."""

    reason = "no_target"


@dataclass(frozen=True)
class Target:
    """An endpoint (the emulator, LocalStack...) or AWS itself (`endpoint` None)."""

    source: TargetSource
    endpoint: str | None
    region: str | None
    detail: str = ""

    def describe(self) -> str:
        """One line: what is used and how it was found."""
        where = {
            TargetSource.OPTION: f"{self.endpoint} (--endpoint)",
            TargetSource.ENVIRONMENT: f"{self.endpoint} ({PABLO_ENDPOINT_ENV})",
            TargetSource.EMULATOR: f"embedded emulator at {self.endpoint} ({self.detail})",
            TargetSource.AWS: f"AWS{f' in {self.region}' if self.region else ''} ({self.detail})",
        }
        return where[self.source]

    def client(self, service: str) -> Any:
        return client(service, self.endpoint, self.region)


def resolve_target(
    endpoint_option: str | None,
    *,
    region: str | None = LOCAL_REGION,
    allow_aws: bool = True,
    environ: Mapping[str, str] = os.environ,
    running_emulator: Callable[[], EmulatorState | None] | None = None,
    aws_credentials: Callable[[str | None], str | None] | None = None,
) -> Target:
    """The target of a command: `--endpoint`, else $PABLO_ENDPOINT, else the running
    embedded emulator, else AWS with the usual credentials (when `allow_aws`).

    NoTargetError when none applies. The emulator lookup and the AWS credential lookup can
    be injected; by default they read the state file and botocore's credential chain."""
    if endpoint_option:
        return Target(TargetSource.OPTION, endpoint_option, region)
    if environ.get(PABLO_ENDPOINT_ENV):
        return Target(TargetSource.ENVIRONMENT, environ[PABLO_ENDPOINT_ENV], region)
    emulator = (running_emulator or running_emulator_state)()
    if emulator is not None:
        detail = f"running, pid {emulator.pid}"
        return Target(TargetSource.EMULATOR, emulator.endpoint, region, detail)
    tried = (
        f"no --endpoint, {PABLO_ENDPOINT_ENV} unset, no emulator running "
        f"(no live one recorded in {state_path()})"
    )
    if not allow_aws:
        raise NoTargetError(f"nothing to deploy into: {tried}; start one with `pablo local up`")
    method = (aws_credentials or aws_credential_method)(region)
    if method is None:
        raise NoTargetError(
            f"no target: {tried}, and no AWS credentials found; start an emulator with "
            "`pablo local up` or configure AWS credentials"
        )
    return Target(TargetSource.AWS, None, region, f"credentials: {method}")


def command_target(args: argparse.Namespace, *, allow_aws: bool = True) -> Target:
    """`resolve_target` for a parsed command line (`--endpoint`, and `--region` when it has
    one), said on stderr in one line."""
    target = resolve_target(
        args.endpoint, region=getattr(args, "region", None), allow_aws=allow_aws
    )
    print(f"pablo: target: {target.describe()}", file=sys.stderr)
    return target


def endpoint_help(*, allow_aws: bool = True) -> str:
    """The `--endpoint` option's help: the order `resolve_target` follows."""
    fallback = ", else AWS with your credentials" if allow_aws else ""
    return (
        f"endpoint URL; default: ${PABLO_ENDPOINT_ENV}, else the running embedded emulator "
        f"(pablo local up){fallback}"
    )


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every command that talks to the deployed stack."""
    parser.add_argument("--endpoint", help=endpoint_help())
    parser.add_argument("--region", default=LOCAL_REGION, help="AWS region")
    parser.add_argument("--stack-name", default=STACK_NAME, help="the deployed stack")


def running_emulator_state() -> EmulatorState | None:
    """The embedded emulator recorded in $PABLO_HOME if its process is alive, else None."""
    state = load_state()
    if state is not None and is_emulator_process(state.pid):
        return state
    return None


def aws_credential_method(region: str | None) -> str | None:
    """Where botocore's credential chain finds credentials (env, shared-credentials-file,
    iam-role...), or None when it finds none."""
    import botocore.session  # noqa: PLC0415

    session = botocore.session.get_session()
    if region:
        session.set_config_variable("region", region)
    credentials = session.get_credentials()
    return None if credentials is None else str(credentials.method)


def client(service: str, endpoint: str | None, region: str | None = None) -> Any:
    """A boto3 client for the endpoint (fake credentials, path-style S3), or for AWS when
    it is None."""
    if endpoint:
        return local_client(service, endpoint, region or LOCAL_REGION)
    import boto3  # noqa: PLC0415

    return boto3.client(service, region_name=region)


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The deployed stack's outputs, by key; ConfigurationError if it is not deployed (an
    unreachable endpoint is the SDK's own error: the operation failed, nothing is wrong
    with the command)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise ConfigurationError(f"stack {stack_name} not found: {exc}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def stack_output(cloudformation: Any, stack_name: str, key: str) -> str:
    outputs = stack_outputs(cloudformation, stack_name)
    if key not in outputs:
        raise ConfigurationError(f"stack {stack_name} has no output {key}")
    return outputs[key]


def now(endpoint: str | None) -> datetime:
    """The run's "now": the emulator's clock locally, the wall clock in AWS."""
    if endpoint is None:
        return datetime.now(UTC)
    from pablo.local.control import ControlClient  # noqa: PLC0415

    return ControlClient(endpoint).now()
