"""Shared fixtures for functional tests.

`emulator_server` and `deployed_stack` are defined in tests/conftest.py (the end-to-end
tests share them): the real emulator process on a free port in a temporary PABLO_HOME.
Create clients inside tests or fixtures, after it started: `emulator_server.client("s3")`.
Tests share the server, so give resources unique names (`unique_name("bucket")`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

# The emulator fixtures (`emulator_server`, `deployed_stack`) live in tests/conftest.py so
# the end-to-end tests share them; these names stay importable from here.
from tests.conftest import EmulatorServer, start_emulator

__all__ = ["EmulatorServer", "start_emulator", "unique_name", "wait_for"]

T = TypeVar("T")


def unique_name(prefix: str) -> str:
    """A resource name no other test in the session uses (lowercase: valid for S3 too)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 90.0, interval: float = 0.5
) -> T:
    """Poll until `probe` returns something truthy (deliveries and workflows are
    asynchronous, as in AWS); fail with `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
