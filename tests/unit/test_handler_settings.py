"""The handlers' one settings module: each variable read on first use, typed, a missing one
named in a ConfigurationError, an unset tunable given the default core defines."""

from __future__ import annotations

import pytest

from functions.core import env, schemas
from functions.core.defaults import DEFAULT_MAX_CHECKS
from functions.core.errors import ConfigurationError
from functions.core.transform.experiments_stats import DEFAULT_P_THRESHOLD
from functions.handlers.settings import DEFAULTS, Settings


def test_a_set_variable_is_read_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the deployment sets a bucket, a lateness and a threshold
    monkeypatch.setenv(env.RAW_BUCKET, "raw-bucket")
    monkeypatch.setenv(env.ALLOWED_LATENESS_DAYS, "3")
    monkeypatch.setenv(env.EXPERIMENT_SRM_P_THRESHOLD, "0.01")
    # when a handler reads them
    settings = Settings()
    # then each comes back as its type
    assert settings.raw_bucket == "raw-bucket"
    assert settings.allowed_lateness_days == 3
    assert settings.srm_p_threshold == 0.01


def test_an_unset_tunable_takes_the_default_core_defines(monkeypatch: pytest.MonkeyPatch) -> None:
    # given neither the SRM threshold nor the gate's checks are set
    monkeypatch.delenv(env.EXPERIMENT_SRM_P_THRESHOLD, raising=False)
    monkeypatch.delenv(env.FRESHNESS_MAX_CHECKS, raising=False)
    settings = Settings()
    # then they are core's defaults (0.001 and 8 checks), the values the table lists
    assert settings.srm_p_threshold == DEFAULT_P_THRESHOLD == 0.001
    assert settings.freshness_max_checks == DEFAULT_MAX_CHECKS == 8
    assert DEFAULTS[env.FRESHNESS_MAX_CHECKS] == 8


def test_a_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a function whose environment lacks the state table
    monkeypatch.delenv(env.STATE_TABLE, raising=False)
    # when it is read, then the error names the variable
    with pytest.raises(ConfigurationError, match=env.STATE_TABLE):
        _ = Settings().state_table


def test_a_number_that_is_not_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.PROFIT_REVIEW_DAYS, "ten")
    with pytest.raises(ConfigurationError, match="not a int"):
        _ = Settings().review_days


def test_a_table_maps_to_its_bucket_and_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # given every bucket and database named
    for name, value in {
        env.RAW_BUCKET: "r",
        env.CURATED_BUCKET: "c",
        env.FINANCE_BUCKET: "f",
        env.QUARANTINE_BUCKET: "q",
        env.GLUE_DATABASE_RAW: "db_r",
        env.GLUE_DATABASE_CURATED: "db_c",
        env.GLUE_DATABASE_FINANCE: "db_f",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    # then restricted salaries live in the finance bucket and database, clicks in raw
    assert settings.buckets.for_table(schemas.RAW_SALARIES) == "f"
    assert settings.database(schemas.RAW_SALARIES) == "db_f"
    assert settings.buckets.for_table(schemas.RAW_CLICKS) == "r"
    assert settings.database(schemas.EXEC_KPI) == "db_c"
