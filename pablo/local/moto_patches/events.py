"""EventBridge: rules deliver to Lambda and Step Functions targets; an S3 event is flattened
once for all rules."""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Callable
from typing import Any

import moto.s3.notifications as s3_notifications
from moto.events.models import EventPattern, Rule

from pablo.local.moto_patches.registry import Patch, Replacement

# (rule, the targets the emulator delivers to, the event as moto holds it)
Submit = Callable[[Any, list[dict[str, Any]], Any], None]


def _rule_targets(delivered: Callable[[str], bool], submit: Submit) -> list[Replacement]:
    """A matching event reaches the rule's targets whose ARN `delivered` accepts through
    `submit` (pablo.local.event_targets); moto's own code keeps the others.

    Why: moto's `Rule.send_to_targets` delivers only to CloudWatch Logs, archives, SQS and
    event buses, and raises NotImplementedError on any other target (which, for an S3
    notification, moto swallows: the event silently goes nowhere). A rule with no event
    pattern (a schedule) matches no event in AWS; moto's empty pattern matches every one.
    """
    original = Rule.send_to_targets

    @functools.wraps(original)
    def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
        if not rule.event_pattern.get_pattern():
            return
        ours = [t for t in rule.targets if delivered(t["Arn"])]
        if ours:
            if rule.state == "ENABLED" and rule.event_pattern.matches_event(original_event):
                submit(rule, ours, original_event)
            others = [t for t in rule.targets if t not in ours]
            if not others:
                return
            # moto's code gets a shallow copy holding only the targets it knows; the
            # stored rule is never modified (other threads may be reading it).
            rule = copy.copy(rule)
            rule.targets = others
        original(rule, original_event, transform_input)

    return [Replacement(Rule, "send_to_targets", send_to_targets)]


RULE_TARGETS = Patch("events-lambda-and-states-targets", "events", _rule_targets)


def _s3_event_flattened_once() -> list[Replacement]:
    """An S3 event sent to EventBridge is flattened once, then matched against every rule;
    its detail type is worked out once per S3 event name.

    Why: moto's `_send_event_bridge_message` offers one event to every rule of every bus,
    and each rule's `matches_event` copies the event through JSON and flattens it again;
    `_detail_type` builds three lists of S3's event names on every call. A PUT with tags
    sends two events (created, tags added) past the stack's 16 rules: about a third of the
    PUT's serving time. While moto's loop offers one event (it builds the event, then only
    reads it: moto's targets and ours copy it before use), its flattened form is kept for
    the rules after the first, beside the event itself so that another event cannot take
    its identity; each rule's own pattern then matches it with moto's code. `_detail_type`
    is a function of the event name alone.
    """
    original_send = s3_notifications._send_event_bridge_message
    original_matches = EventPattern.matches_event
    flattened = threading.local()

    @functools.wraps(original_send)
    def send_event_bridge_message(*args: Any, **kwargs: Any) -> None:
        outer = getattr(flattened, "events", None)
        flattened.events = {}
        try:
            original_send(*args, **kwargs)
        finally:
            flattened.events = outer

    @functools.wraps(original_matches)
    def matches_event(self: EventPattern, event: Any) -> bool:
        seen: dict[int, tuple[Any, dict[str, Any]]] | None = getattr(flattened, "events", None)
        if seen is None or not self._pattern:
            return original_matches(self, event)
        found = seen.get(id(event))
        if found is None or found[0] is not event:
            found = (event, self._flatten_dict(json.loads(json.dumps(event))))
            seen[id(event)] = found
        return self._does_event_match(found[1], self._pattern)

    return [
        Replacement(s3_notifications, "_send_event_bridge_message", send_event_bridge_message),
        Replacement(EventPattern, "matches_event", matches_event),
        Replacement(
            s3_notifications,
            "_detail_type",
            functools.lru_cache(maxsize=None)(s3_notifications._detail_type),
        ),
    ]


S3_EVENT_FLATTENED_ONCE = Patch(
    "events-s3-event-flattened-once", "events", _s3_event_flattened_once
)
