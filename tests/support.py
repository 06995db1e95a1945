"""Helpers every emulator-backed test shares.

Tests share one emulator server, so give resources unique names (`unique_name("bucket")`);
deliveries and workflows are asynchronous, as in AWS, so poll with `wait_for`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

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
