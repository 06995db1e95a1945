"""moto_patches.events events-s3-event-flattened-once: an S3 event is flattened once for all
rules, and every rule matches it as moto does."""

from __future__ import annotations

import json
from typing import Any, Final

import moto.s3.notifications as s3_notifications
import pytest
from moto.events.models import EventPattern

from pablo.local.context import local_client
from pablo.local.moto_patches import events, registry
from tests.support import threaded_moto

BUCKETS: Final = ("landing", "finance")
# Patterns of the stack's rules, and of the other filters moto matches.
PATTERNS: Final[dict[str, dict[str, Any]]] = {
    "bucket": {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["landing"]}},
    },
    "prefixes": {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": ["landing"]},
            "object": {"key": [{"prefix": "invoices/"}, {"prefix": "expenses/"}]},
        },
    },
    "suffix, other bucket": {
        "detail": {"bucket": {"name": ["finance"]}, "object": {"key": [{"suffix": ".csv"}]}},
    },
    "tags added": {"detail-type": ["Object Tags Added"]},
    "anything but created": {"detail-type": [{"anything-but": "Object Created"}]},
    "small": {"detail": {"object": {"size": [{"numeric": ["<", 5]}]}}},
    "no version": {"detail": {"object": {"version-id": [{"exists": False}]}}},
    "either": {
        "$or": [{"detail": {"object": {"key": ["a.csv"]}}}, {"detail-type": ["Object Deleted"]}]
    },
    "other source": {"source": ["aws.cloudwatch"]},
}


def _deliveries(endpoint: str, queues: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Lands, tags, copies and deletes objects; what each rule's queue then received:
    (detail type, key) per event, in order."""
    s3 = local_client("s3", endpoint)
    sqs = local_client("sqs", endpoint)
    s3.put_object(Bucket="landing", Key="invoices/2026-09-01.csv", Body=b"12345678", Tagging="a=b")
    s3.put_object(Bucket="landing", Key="a.csv", Body=b"x")
    s3.put_object(Bucket="finance", Key="landing/ledger.csv", Body=b"xy")
    s3.put_object_tagging(
        Bucket="finance", Key="landing/ledger.csv", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    s3.copy_object(Bucket="finance", Key="copy.json", CopySource="landing/a.csv")
    s3.delete_object(Bucket="landing", Key="a.csv")
    received: dict[str, list[tuple[str, str]]] = {}
    for rule, url in queues.items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        bodies = [json.loads(m["Body"]) for m in messages]
        received[rule] = [(b["detail-type"], b["detail"]["object"]["key"]) for b in bodies]
    return received


def _rules_to_queues(endpoint: str) -> dict[str, str]:
    """A rule per pattern on the default bus, each delivering to its own SQS queue; with
    buckets that send their events to EventBridge."""
    s3 = local_client("s3", endpoint)
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    sqs = local_client("sqs", endpoint)
    rules = local_client("events", endpoint)
    queues = {}
    for n, (rule, pattern) in enumerate(PATTERNS.items()):
        url = sqs.create_queue(QueueName=f"rule-{n}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        rules.put_rule(Name=f"rule-{n}", EventPattern=json.dumps(pattern))
        target = {"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}
        rules.put_targets(Rule=f"rule-{n}", Targets=[target])
        queues[rule] = url
    return queues


def test_every_rule_matches_s3_events_as_moto_does_flattening_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given rules of every kind of filter, each delivering to a queue, stock moto in this
    # process
    with threaded_moto() as endpoint:
        queues = _rules_to_queues(endpoint)
        # When objects are landed, tagged, copied and deleted with moto, then with the
        # patch, whose events sent and flattenings of a whole event are counted
        stock = _deliveries(endpoint, queues)
        sent: list[str] = []
        send = s3_notifications._send_event_bridge_message

        def counted_send(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
            sent.append(event_name)
            send(account_id, bucket, event_name, key)

        monkeypatch.setattr(s3_notifications, "_send_event_bridge_message", counted_send)
        flattened: list[dict[str, Any]] = []
        flatten = EventPattern._flatten_dict

        def counted(node: Any, prefix: str = "", result: dict[str, Any] | None = None) -> Any:
            if not prefix:
                flattened.append(node)
            return flatten(node, prefix, result)

        monkeypatch.setattr(EventPattern, "_flatten_dict", staticmethod(counted))
        registry.apply(events.S3_EVENT_FLATTENED_ONCE)
        try:
            patched = _deliveries(endpoint, queues)
        finally:
            registry.restore(events.S3_EVENT_FLATTENED_ONCE)
    # Then each rule received the same events, and each event was flattened once
    assert patched == stock
    assert len(sent) >= len(stock["bucket"]) > 0
    assert len(flattened) == len(sent)
    # and the answers are those of the patterns
    assert stock["prefixes"] == [("Object Created", "invoices/2026-09-01.csv")]
    assert ("Object Tags Added", "landing/ledger.csv") in stock["tags added"]
    assert stock["either"] == [
        ("Object Created", "a.csv"),
        ("Object Tags Added", "a.csv"),
        ("Object Deleted", "a.csv"),
    ]
    assert stock["other source"] == []
