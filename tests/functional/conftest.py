"""Shared fixtures for functional tests.

`emulator_server` and `deployed_stack` are defined in tests/conftest.py (the end-to-end
tests share them): the real emulator process on a free port in a temporary PABLO_HOME.
Create clients inside tests or fixtures, after it started: `emulator_server.client("s3")`.
Tests share the server, so give resources unique names (`unique_name("bucket")`).
"""

from __future__ import annotations

import uuid

# The emulator fixtures (`emulator_server`, `deployed_stack`) live in tests/conftest.py so
# the end-to-end tests share them; these names stay importable from here.
from tests.conftest import EmulatorServer, start_emulator

__all__ = ["EmulatorServer", "start_emulator", "unique_name"]


def unique_name(prefix: str) -> str:
    """A resource name no other test in the session uses (lowercase: valid for S3 too)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
