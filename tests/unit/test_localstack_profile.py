"""The LocalStack profile (localstack/docker-compose.yml) says what LocalStack needs.

LocalStack cannot run on this project's machines (no Docker engine), so what is checked
here is the profile itself; the deploy path it uses is tested on the embedded emulator
(tests/emulator/test_deploy_account.py: a target whose STS answers another account).
"""

from __future__ import annotations

from pathlib import Path

import yaml

PROFILE = Path(__file__).resolve().parents[2] / "localstack" / "docker-compose.yml"


def _service() -> dict:
    return yaml.safe_load(PROFILE.read_text())["services"]["localstack"]


def test_the_auth_token_is_passed_through_only_when_set() -> None:
    # Given the compose service's environment
    environment = _service()["environment"]
    # Then the token is named without a value: compose takes it from the shell when set,
    # and leaves it out otherwise (a `=` would pin a value, or an empty token)
    assert "LOCALSTACK_AUTH_TOKEN" in environment
    assert not [e for e in environment if e.startswith("LOCALSTACK_AUTH_TOKEN=")]


def test_every_service_of_the_stack_is_enabled_and_pro_ones_are_named() -> None:
    # Given the SERVICES list and the profile's comments
    (services,) = [
        e.split("=", 1)[1] for e in _service()["environment"] if e.startswith("SERVICES=")
    ]
    enabled = set(services.split(","))
    # Then Glue and Athena (LocalStack Pro) are enabled and said to need Pro
    assert {
        "glue",
        "athena",
        "kinesis",
        "lambda",
        "stepfunctions",
        "cloudformation",
        "sts",
    } <= enabled
    assert "Glue and Athena need LocalStack Pro" in PROFILE.read_text()
