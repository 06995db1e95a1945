"""Helpers every emulator-backed test shares.

Tests share one emulator server, so give resources unique names (`unique_name("bucket")`);
deliveries and workflows are asynchronous, as in AWS, so poll with `wait_for`. Tests of
one emulator part against stock moto start their own server with `threaded_moto`.
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests
from moto.server import ThreadedMotoServer

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


def free_port() -> int:
    """A TCP port on localhost nothing listens on (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def threaded_moto() -> Iterator[str]:
    """Stock moto in this process on a free port (none of the emulator's patches); its
    endpoint. Reset and stopped when the block ends."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="localhost", port=port, verbose=False)
    server.start()
    endpoint = f"http://localhost:{port}"
    try:
        yield endpoint
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()
