"""EventBridge: rules deliver to Lambda and Step Functions targets."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from moto.events.models import Rule

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
            # moto's code gets a shallow copy holding only the targets it knows; the
            # stored rule is never modified (other threads may be reading it).
            rule = copy.copy(rule)
            rule.targets = [t for t in rule.targets if t not in ours]
            if not rule.targets:
                return
        original(rule, original_event, transform_input)

    return [Replacement(Rule, "send_to_targets", send_to_targets)]


RULE_TARGETS = Patch("events-lambda-and-states-targets", "events", _rule_targets)
