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


def test_the_engagement_engine_threshold_defaults_to_the_one_rule_and_can_be_set():
    # given prod, which names no threshold, and local, which polls Athena every second
    from functions.core.defaults import (  # noqa: PLC0415
        DEFAULT_ATHENA_MIN_RAW_BYTES,
        DEFAULT_ATHENA_POLL_SECONDS,
    )

    prod, local = load_config("prod"), load_config("local")
    assert (prod.athena_min_raw_bytes, prod.athena_poll_seconds) == (
        DEFAULT_ATHENA_MIN_RAW_BYTES,
        DEFAULT_ATHENA_POLL_SECONDS,
    )
    assert local.athena_poll_seconds == 1
    # when an environment sets the threshold, then that is the value deployed
    block = {**_local_block(), "athena_min_raw_bytes": 5_000_000}
    assert config_from_dict("local", block).athena_min_raw_bytes == 5_000_000
    assert load_config("local").workgroup_name("pipelines") == "pablo-local-pipelines"


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
        ({"athena_min_raw_bytes": 0}, "athena_min_raw_bytes must be positive"),
        ({"athena_poll_seconds": -1}, "athena_poll_seconds must be positive"),
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


def test_context_account_replaces_the_environment_account():
    # given cdk.json's local block (account 123456789012) and `-c account=210987654321`
    context = {**read_cdk_json_context(), "env": "local", "account": "210987654321"}
    # when the config is read
    config = config_from_context(context)
    # then names and the assets bucket use the given account
    assert config.account == "210987654321"
    assert config.bucket_name("raw") == "pablo-local-raw-210987654321-us-east-1"
    assert config.file_assets_bucket_name == "pablo-local-cdk-assets-210987654321"


def test_a_wrong_context_account_is_refused():
    context = {**read_cdk_json_context(), "env": "local", "account": "0000"}
    with pytest.raises(ConfigurationError, match="account must be 12 digits"):
        config_from_context(context)


def test_oncall_subscriptions_and_runbook_url_are_read():
    # given a block with every kind of subscriber and a runbook base URL
    block = {
        **_local_block(),
        "runbook_base_url": "https://git.example.com/pablo/blob/main",
        "oncall_subscriptions": {
            "email": ["oncall@example.com"],
            "https": ["https://events.pagerduty.com/integration/abc/enqueue"],
            "slack": [{"workspace_id": "T0123ABCD", "channel_id": "C0456EFGH"}],
        },
    }
    # when it is loaded
    config = config_from_dict("local", block)
    # then each is kept as given
    wanted = config.oncall_subscriptions
    assert wanted.email == ("oncall@example.com",)
    assert wanted.https == ("https://events.pagerduty.com/integration/abc/enqueue",)
    assert [(c.workspace_id, c.channel_id) for c in wanted.slack] == [("T0123ABCD", "C0456EFGH")]
    assert config.runbook_base_url == "https://git.example.com/pablo/blob/main"


def test_no_subscriptions_and_relative_runbooks_by_default():
    config = load_config("local")
    assert config.oncall_subscriptions.email == ()
    assert config.oncall_subscriptions.https == ()
    assert config.oncall_subscriptions.slack == ()
    assert config.runbook_base_url == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"runbook_base_url": "http://wiki/runbooks"}, "runbook_base_url must be an https"),
        ({"oncall_subscriptions": {"email": ["oncall"]}}, "e-mail 'oncall' is not an address"),
        ({"oncall_subscriptions": {"https": ["http://x.io/h"]}}, "is not an https:// URL"),
        ({"oncall_subscriptions": {"sms": ["+15550100"]}}, r"unknown keys \['sms'\]"),
        ({"oncall_subscriptions": {"email": "a@b.io"}}, "email must be a list of str"),
        ({"oncall_subscriptions": {"slack": [{"channel_id": "C1"}]}}, "workspace_id"),
        (
            {"oncall_subscriptions": {"slack": [{"workspace_id": "t1", "channel_id": "C1"}]}},
            "needs workspace_id",
        ),
    ],
)
def test_invalid_oncall_settings_are_refused(change, message):
    block = {**_local_block(), **change}
    with pytest.raises(ConfigurationError, match=message):
        config_from_dict("local", block)
