"""boto3 clients for the handlers: one per service for the life of the Lambda container,
created on first use (after the runtime set the environment, AWS_ENDPOINT_URL included).
Adapters never create clients; handlers pass these in."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    return boto3.client(service)
