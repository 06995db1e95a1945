"""The on-call topic's subscribers and the alarms' runbook links come from the environment.

The prod environment of cdk.json, with every kind of subscriber and a runbook base URL
added as a platform engineer would, synthesized once for this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.core.monitor.alarm_inventory import INVENTORY
from infra.app import build_app
from infra.config import STACK_NAME, read_cdk_json_context

RUNBOOKS = "https://git.example.com/pablo/pipelines/blob/main"
EMAIL = "oncall@example.com"
PAGER = "https://events.pagerduty.com/integration/0123abcd/enqueue"
SLACK = {"workspace_id": "T0123ABCD", "channel_id": "C0456EFGH"}
ALARM_DESCRIPTION_LIMIT = 1024  # CloudWatch PutMetricAlarm's maximum


@pytest.fixture(scope="module")
def prod_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    context = read_cdk_json_context()
    prod = {
        **context["environments"]["prod"],
        "runbook_base_url": RUNBOOKS,
        "oncall_subscriptions": {"email": [EMAIL], "https": [PAGER], "slack": [SLACK]},
    }
    outdir = tmp_path_factory.mktemp("cdk-prod")
    app, _ = build_app(
        {"env": "prod", "environments": {**context["environments"], "prod": prod}},
        outdir=str(outdir),
    )
    app.synth()
    return dict(json.loads((Path(outdir) / f"{STACK_NAME}.template.json").read_text()))


def _of_type(template: dict[str, Any], cfn_type: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == cfn_type]


def _topic_id(template: dict[str, Any]) -> str:
    (topic_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    return topic_id


def test_email_and_https_endpoints_subscribe_to_the_oncall_topic(prod_template):
    # Given the prod template with one e-mail and one HTTPS subscriber configured
    subscriptions = _of_type(prod_template, "AWS::SNS::Subscription")
    # Then each subscribes to the on-call topic with its protocol
    topic = {"Ref": _topic_id(prod_template)}
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions) == [
        ("email", EMAIL),
        ("https", PAGER),
    ]
    assert all(s["TopicArn"] == topic for s in subscriptions)


def test_the_slack_channel_gets_the_oncall_topic_through_chatbot(prod_template):
    # Given the prod template with one Slack channel configured
    (channel,) = _of_type(prod_template, "AWS::Chatbot::SlackChannelConfiguration")
    # Then AWS Chatbot posts the on-call topic there
    assert channel["SlackWorkspaceId"] == SLACK["workspace_id"]
    assert channel["SlackChannelId"] == SLACK["channel_id"]
    assert channel["SnsTopicArns"] == [{"Ref": _topic_id(prod_template)}]
    assert channel["ConfigurationName"] == "pablo-prod-oncall-c0456efgh"


def test_alarm_runbook_links_are_absolute(prod_template):
    # Given every alarm of the prod template
    alarms = {a["AlarmName"]: a for a in _of_type(prod_template, "AWS::CloudWatch::Alarm")}
    for item in INVENTORY:
        description = alarms[f"pablo-prod-{item.key}"]["AlarmDescription"]
        # Then its runbook link is the base URL + the page and section, e.g.
        # https://git.example.com/pablo/pipelines/blob/main/docs/runbooks/engagement.md#...
        assert description.endswith(f"runbook: {RUNBOOKS}/{item.runbook}")
        assert len(description) <= ALARM_DESCRIPTION_LIMIT, item.key
