"""Where a `pablo` command acts: the deployed stack, on the emulator or in AWS.

What the commands (`run`, `backfill`, `finance`, `oncall`, `demo`) share, once: the stack's
name, a client for the emulator (an endpoint) or for AWS, the stack's outputs, and the run's
"now" (the emulator's clock locally, the wall clock in AWS).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from functions.core.errors import ConfigurationError
from pablo.local.context import LOCAL_REGION, local_client

STACK_NAME: Final = "PabloPipelines"


def client(service: str, endpoint: str | None, region: str | None = None) -> Any:
    """A boto3 client for the emulator at `endpoint`, or for AWS when it is None."""
    if endpoint:
        return local_client(service, endpoint, region or LOCAL_REGION)
    import boto3  # noqa: PLC0415

    return boto3.client(service, region_name=region)


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The deployed stack's outputs, by key; ConfigurationError if it is not deployed."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
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
