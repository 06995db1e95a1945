"""The deployed alarms and the inventory match one to one."""

from __future__ import annotations

import json

from functions.core.monitor.alarm_inventory import INVENTORY
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
        assert props["Namespace"] == (item.namespace or synthesized.config.metrics_namespace)
        assert props["Threshold"] == item.threshold
        assert props["ComparisonOperator"] == item.comparison.value
        assert props["TreatMissingData"] == item.missing_data.value
        assert item.owner.value in props["AlarmDescription"]
        assert item.runbook in props["AlarmDescription"]
        for actions in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            assert props[actions] == [topic_arn]


def _watching(synthesized: Synthesized, namespace: str, metric: str) -> dict[str, dict]:
    """The template's alarms on `namespace`/`metric`, keyed by their one dimension's
    value as CloudFormation sees it (a Ref or GetAtt of the watched resource)."""
    found = {}
    for props in _alarms_by_name(synthesized).values():
        if props["Namespace"] == namespace and props["MetricName"] == metric:
            (dimension,) = props["Dimensions"]
            found[json.dumps(dimension["Value"], sort_keys=True)] = props
    return found


def _ref(logical_id: str) -> str:
    return json.dumps({"Ref": logical_id}, sort_keys=True)


def test_every_function_has_an_errors_and_a_throttles_alarm(synthesized: Synthesized) -> None:
    # Given every pipeline function of the template (CDK's own helper functions, such as
    # the log-retention or notification handlers, carry no prefix and are not ours)
    prefix = synthesized.config.name_prefix
    functions = [
        logical_id
        for logical_id, r in synthesized.resources("AWS::Lambda::Function").items()
        if str(r["Properties"].get("FunctionName", "")).startswith(f"{prefix}-")
    ]
    assert len(functions) >= 15
    # Then each has an Errors and a Throttles alarm on its own FunctionName
    for metric in ("Errors", "Throttles"):
        watching = _watching(synthesized, "AWS/Lambda", metric)
        missing = [f for f in functions if _ref(f) not in watching]
        assert not missing, f"no {metric} alarm on {missing}"
        assert len(watching) == len(functions)


def test_every_workflow_has_failed_and_timed_out_alarms(synthesized: Synthesized) -> None:
    machines = list(synthesized.resources("AWS::StepFunctions::StateMachine"))
    assert len(machines) >= 6
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
        watching = _watching(synthesized, "AWS/States", metric)
        missing = [m for m in machines if _ref(m) not in watching]
        assert not missing, f"no {metric} alarm on {missing}"


def test_the_click_mapping_failure_queue_depth_pages(synthesized: Synthesized) -> None:
    # Given the queue the click mapping sends failed batches to (its on-failure destination)
    (mapping,) = synthesized.resources("AWS::Lambda::EventSourceMapping").values()
    destination = mapping["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    queue_id = destination["Fn::GetAtt"][0]
    # Then an alarm watches the depth of that very queue, pages, and treats an empty
    # (silent) queue as fine
    watching = _watching(synthesized, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    props = watching[json.dumps({"Fn::GetAtt": [queue_id, "QueueName"]}, sort_keys=True)]
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert "severity: page" in props["AlarmDescription"]
    assert "docs/runbooks/engagement.md#click-ingest-failure-queue" in props["AlarmDescription"]


def test_the_click_stream_iterator_age_alarm_watches_the_mapped_stream(
    synthesized: Synthesized,
) -> None:
    (mapping,) = synthesized.resources("AWS::Lambda::EventSourceMapping").values()
    stream_id = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
    watching = _watching(synthesized, "AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds")
    props = watching[_ref(stream_id)]
    # An hour behind (3,600,000 ms) for three 5-minute periods in a row
    assert props["Threshold"] == 3_600_000
    assert props["Statistic"] == "Maximum"
    assert (props["Period"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (300, 3, 3)
