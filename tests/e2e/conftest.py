"""End-to-end tests: the deployed stack in the embedded emulator, or LocalStack.

Set PABLO_ENDPOINT (e.g. http://localhost:4566) to run the `localstack` tests against a
LocalStack you started with localstack/docker-compose.yml; unset, they are skipped with
the reason printed.
"""

from __future__ import annotations

import os

import pytest

from pablo.stack import PABLO_ENDPOINT_ENV as PABLO_ENDPOINT

LOCALSTACK_SKIP_REASON = (
    f"{PABLO_ENDPOINT} is unset: LocalStack needs Docker, which this machine lacks "
    "(see localstack/README.md)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(PABLO_ENDPOINT):
        return
    skip = pytest.mark.skip(reason=LOCALSTACK_SKIP_REASON)
    for item in items:
        if "localstack" in item.keywords:
            item.add_marker(skip)
