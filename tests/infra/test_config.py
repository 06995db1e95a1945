"""cdk.json environments load into a validated, frozen config; mistakes fail clearly."""

from __future__ import annotations

import dataclasses
import json

import pytest

from functions.core.errors import ConfigurationError
from infra.config import (
    CDK_JSON,
    config_from_context,
    config_from_dict,
    load_config,
    read_cdk_json_context,
)


def _local_block() -> dict:
    return dict(read_cdk_json_context()["environments"]["local"])


def test_local_and_prod_load_with_the_run_book_thresholds():
    for name in ("local", "prod"):
        config = load_config(name)
        assert config.env_name == name
        assert config.allowed_lateness_days == 7
        assert config.session_gap_minutes == 30
    assert load_config("local").synthesizer == "cli-credentials"
    assert load_config("prod").synthesizer == "default"
    assert load_config("prod").retain_data is True


def test_default_environment_is_local():
    context = read_cdk_json_context()
    context.pop("env", None)
    assert config_from_context(context).env_name == "local"


def test_config_is_frozen():
    config = load_config("local")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.account = "000000000000"  # type: ignore[misc]


def test_cdk_json_app_runs_the_app_module_from_the_venv():
    app = json.loads(CDK_JSON.read_text())["app"]
    assert app.endswith("-m infra.app")


def test_names_are_derived_from_the_prefix():
    config = load_config("local")
    assert config.bucket_name("raw") == "pablo-local-raw-123456789012-us-east-1"
    assert config.resource_name("state") == "pablo-local-state"
    assert config.glue_prefix == "pablo_local"


def test_unknown_environment_names_the_known_ones():
    with pytest.raises(ConfigurationError, match=r"unknown environment 'staging'.*local.*prod"):
        load_config("staging")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"account": "12345"}, "account must be 12 digits"),
        ({"region": "moon-1"}, "region"),
        ({"name_prefix": "Pablo_Local"}, "name_prefix"),
        ({"synthesizer": "legacy"}, "synthesizer must be one of"),
        ({"log_retention_days": 42}, "log_retention_days"),
        ({"session_gap_minutes": 0}, "session_gap_minutes must be positive"),
        ({"reconciliation_tolerance_cents": -1}, "must not be negative"),
        ({"file_assets_bucket": "No Such Bucket"}, "file_assets_bucket"),
        ({"allowed_lateness_days": "7"}, "allowed_lateness_days must be int"),
        ({"allowed_lateness_days": True}, "allowed_lateness_days must be int"),
        ({"retain_data": "yes"}, "retain_data must be bool"),
        ({"surprise": 1}, r"unknown keys \['surprise'\]"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(change, message):
    # given the local block with one mistake
    block = {**_local_block(), **change}
    # when it is loaded, then the error names the key and the rule
    with pytest.raises(ConfigurationError, match=message):
        config_from_dict("local", block)


def test_missing_settings_are_listed():
    block = _local_block()
    del block["allowed_lateness_days"]
    del block["region"]
    with pytest.raises(
        ConfigurationError, match=r"missing keys \['allowed_lateness_days', 'region'\]"
    ):
        config_from_dict("local", block)


def test_context_without_environments_is_refused():
    with pytest.raises(ConfigurationError, match="no `environments`"):
        config_from_context({"env": "local"})
