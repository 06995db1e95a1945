"""What every emulator extension (Lambda runner, Kinesis pollers, schedules, alarms) gets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pablo.local.clock import Clock

LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# moto's server acts in this account for every request when the variable is set.
MOTO_ACCOUNT_ENV = "MOTO_ACCOUNT_ID"


def emulator_account() -> str:
    """The account moto serves the emulator's own (fake) credentials in; for code inside
    the emulator process that reads moto's backends, which are keyed by account.

    Code outside the emulator asks STS (`get_caller_identity`) instead."""
    from moto.core import DEFAULT_ACCOUNT_ID  # noqa: PLC0415  (emulator process only)

    return os.environ.get(MOTO_ACCOUNT_ENV) or DEFAULT_ACCOUNT_ID


def local_client(service: str, endpoint: str | None, region: str = LOCAL_REGION) -> Any:
    """A boto3 client for the emulator at `endpoint` (path-style S3, fake credentials).

    `endpoint=None` is for code inside the emulator process only: the client targets AWS's
    own URLs, which moto's in-process route answers there (`moto_patches.stepfunctions`)."""
    # boto3 only once a client is made: the command line reads the constants above to
    # build its parser, which must not cost boto3's import.
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        **LOCAL_CREDENTIALS,
    )


@dataclass
class EmulatorContext:
    endpoint: str
    clock: Clock
    region: str = LOCAL_REGION
    # True in the emulator process: extensions' calls then skip HTTP (see local_client).
    in_process: bool = False
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def client_endpoint(self) -> str | None:
        """The endpoint_url for an extension's own boto3 clients."""
        return None if self.in_process else self.endpoint

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = local_client(service, self.client_endpoint, self.region)
        return self._clients[service]


class Extension(Protocol):
    """Behaviour moto lacks, run inside the emulator process."""

    name: str

    def start(self, ctx: EmulatorContext) -> None: ...

    def stop(self) -> None: ...

    def on_clock_advance(self, old: datetime, new: datetime) -> list[dict[str, Any]] | None:
        """Called in order for every tick; fire what fell due in (old, new].

        May return what it did as event dicts (JSON-serializable); the tick reports them.
        An extension may also define `next_due(after, until) -> datetime | None`: the first
        instant in (after, until] at which it needs the clock to stop (schedules do).
        """
        ...
