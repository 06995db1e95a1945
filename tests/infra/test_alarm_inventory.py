"""The deployed alarms and the inventory match one to one."""

from __future__ import annotations

from functions.core.alarm_inventory import INVENTORY
from tests.infra.conftest import Synthesized


def _alarms_by_name(synthesized: Synthesized) -> dict[str, dict]:
    return {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in synthesized.resources("AWS::CloudWatch::Alarm").values()
    }


def test_every_inventory_alarm_is_in_the_template_and_nothing_else(
    synthesized: Synthesized,
) -> None:
    # Given the synthesized stack
    alarms = _alarms_by_name(synthesized)
    prefix = synthesized.config.name_prefix
    # Then its alarms are exactly the inventory's
    assert set(alarms) == {f"{prefix}-{s.key}" for s in INVENTORY}
    topic_arn = synthesized.stack.resolve(synthesized.stack.platform.topic.topic_arn)
    for item in INVENTORY:
        props = alarms[f"{prefix}-{item.key}"]
        # And each carries the inventory's figures, owner, runbook and all three actions
        assert props["MetricName"] == item.metric_name
        assert props["Namespace"] == synthesized.config.metrics_namespace
        assert props["Threshold"] == item.threshold
        assert props["ComparisonOperator"] == item.comparison.value
        assert props["TreatMissingData"] == item.missing_data.value
        assert item.owner.value in props["AlarmDescription"]
        assert item.runbook in props["AlarmDescription"]
        for actions in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            assert props[actions] == [topic_arn]
