"""An inventory entry tells the on-call engineer what broke, who owns it and where to look."""

from __future__ import annotations

import pkgutil

import pytest

from functions.core.monitor import alarm_inventory
from functions.core.monitor.alarm_inventory import INVENTORY, spec
from functions.core.monitor.alarm_inventory.spec import (
    AlarmSpec,
    Comparison,
    MissingData,
    Owner,
    Severity,
)
from functions.core.schemas import Pipeline


def _silence_alarm() -> AlarmSpec:
    return AlarmSpec(
        key="clicks-silent",
        pipeline=Pipeline.ENGAGEMENT,
        sla="Data will arrive within 48hrs",
        metric_name="RecordsLanded",
        statistic="Sum",
        period_seconds=3600,
        evaluation_periods=2,
        threshold=1,
        comparison=Comparison.LESS_THAN,
        missing_data=MissingData.BREACHING,
        severity=Severity.PAGE,
        owner=Owner.FRONTEND,
    )


def test_the_description_carries_sla_owners_severity_and_runbook() -> None:
    # Given an alarm of the engagement pipeline
    item = _silence_alarm()
    # When its CloudWatch description is built
    text = item.alarm_description()
    # Then the on-call engineer reads the SLA, both owners, the severity and the runbook
    assert "SLA: Data will arrive within 48hrs" in text
    assert "owner: Software Frontend Team" in text
    assert "secondary: Data Engineering Team" in text
    assert "severity: page" in text
    assert "runbook: docs/runbooks/engagement.md#clicks-silent" in text
    assert item.pages


def test_the_runbook_link_is_absolute_under_a_base_url() -> None:
    # Given an alarm and where the repository's files are served (a trailing slash or not)
    item = _silence_alarm()
    base = "https://git.example.com/pablo/blob/main/"
    # Then the description links the runbook section under it
    expected = "https://git.example.com/pablo/blob/main/docs/runbooks/engagement.md#clicks-silent"
    assert item.runbook_link(base) == expected
    assert item.alarm_description(base).endswith(f"| runbook: {expected}")


def test_every_inventory_entry_is_reachable_by_key_and_keys_are_unique() -> None:
    keys = [item.key for item in INVENTORY]
    assert len(keys) == len(set(keys))
    for item in INVENTORY:
        assert spec(item.key) is item
    with pytest.raises(KeyError, match="unknown alarm"):
        spec("no-such-alarm")


def test_the_alarm_inventory_imports_every_pipeline_module() -> None:
    # Given the modules in the alarm inventory's folder (spec and service are shared parts)
    on_disk = {m.name for m in pkgutil.iter_modules(alarm_inventory.__path__)}
    # Then each pipeline's module is imported by name, so a missing one is an ImportError
    listed = {m.__name__.rsplit(".", 1)[-1] for m in alarm_inventory.PIPELINE_MODULES}
    assert listed == on_disk - {"spec", "service"}
