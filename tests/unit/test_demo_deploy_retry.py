"""The demo tries a failed CDK deploy once more on a fresh emulator, and only its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pablo import demo
from pablo.local.deploy import DeployError

CLOCK_START = datetime(2026, 8, 31, 23, tzinfo=UTC)


class FakeEmulators:
    """Stands in for starting, stopping and deploying to emulator processes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.deployed: list[str] = []
        self.started: list[str] = []
        self.stopped = 0

    def deploy(self, endpoint: str) -> None:
        if self.failures:
            self.failures -= 1
            raise DeployError("`cdk deploy` failed with exit code 1")
        self.deployed.append(endpoint)

    def start(self, *, clock_start: datetime) -> tuple[str, bool]:
        assert clock_start == CLOCK_START
        self.started.append(f"http://localhost:{5001 + len(self.started)}")
        return self.started[-1], True

    def stop(self) -> None:
        self.stopped += 1


@pytest.fixture
def emulators(monkeypatch: pytest.MonkeyPatch) -> FakeEmulators:
    def make(failures: int) -> FakeEmulators:
        fake = FakeEmulators(failures)
        monkeypatch.setattr(demo, "_deploy", fake.deploy)
        monkeypatch.setattr(demo, "_emulator", fake.start)
        monkeypatch.setattr(demo, "_stop_emulator", fake.stop)
        return fake

    return make  # type: ignore[return-value]


def test_a_first_deploy_that_passes_keeps_its_emulator(emulators) -> None:
    fake = emulators(0)
    endpoint = demo._deploy_or_retry("http://localhost:5000", True, clock_start=CLOCK_START)
    assert (endpoint, fake.deployed, fake.stopped) == ("http://localhost:5000", [endpoint], 0)


def test_a_failed_deploy_is_tried_once_more_on_a_fresh_emulator(emulators) -> None:
    # given a CDK deploy that fails once
    fake = emulators(1)
    # when the demo deploys to the emulator it started
    endpoint = demo._deploy_or_retry("http://localhost:5000", True, clock_start=CLOCK_START)
    # then the emulator is replaced and the stack is deployed to the new one
    assert fake.stopped == 1
    assert endpoint == fake.started[0] == fake.deployed[0]


def test_a_second_failure_ends_the_demo(emulators) -> None:
    fake = emulators(2)
    with pytest.raises(DeployError):
        demo._deploy_or_retry("http://localhost:5000", True, clock_start=CLOCK_START)
    assert fake.stopped == 1 and fake.deployed == []


def test_an_emulator_the_demo_did_not_start_is_never_replaced(emulators) -> None:
    fake = emulators(1)
    with pytest.raises(DeployError):
        demo._deploy_or_retry("http://localhost:5000", False, clock_start=CLOCK_START)
    assert fake.stopped == 0 and fake.started == []
