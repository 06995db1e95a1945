"""Workflows: Step Functions executions (client passed in)."""

from __future__ import annotations

import json
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws_errors import classified, error_code

ALREADY_EXISTS: Final = "ExecutionAlreadyExists"


def start_execution(sfn: Any, *, machine: str, name: str, payload: dict[str, Any]) -> bool:
    """Start `name`; False when an execution of that name exists already (started before:
    the name is the idempotency key)."""
    try:
        sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))
    except ClientError as exc:
        if error_code(exc) == ALREADY_EXISTS:
            return False
        raise classified(exc, f"start {name}") from exc
    except BotoCoreError as exc:
        raise classified(exc, f"start {name}") from exc
    return True


def executions(sfn: Any, *, machine: str, status: str | None = None) -> list[dict[str, Any]]:
    """The executions of `machine` (those in `status`, if given), as ListExecutions lists them."""
    found: list[dict[str, Any]] = []
    extra = {"statusFilter": status} if status else {}
    try:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, **extra):
            found.extend(page.get("executions", []))
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"list the executions of {machine}") from exc
    return found
