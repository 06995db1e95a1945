"""S3 notifications: times from the emulator clock, and Lambda invoked only as the
function's resource-based policy allows."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import moto.s3.notifications as s3_notifications
from moto.core.utils import unix_time

from pablo.local.clock import Clock
from pablo.local.moto_patches.registry import Patch, Replacement


def _notification_clock(clock: Clock) -> list[Replacement]:
    """S3 event times (EventBridge `time`, Lambda, SQS and SNS notifications' `eventTime`)
    come from the emulator clock.

    Why: moto stamps them with the wall clock (`unix_time()` in `moto.s3.notifications`);
    the pipelines record landings at simulated times.
    """
    original_iso = s3_notifications.iso_8601_datetime_with_milliseconds

    def clock_unix_time(dt: datetime | None = None) -> float:
        return unix_time(dt) if dt is not None else clock.now().timestamp()

    def clock_iso(value: datetime | None = None) -> str:
        if value is not None:
            return original_iso(value)
        return original_iso(clock.now().astimezone(UTC).replace(tzinfo=None))

    return [
        Replacement(s3_notifications, "unix_time", clock_unix_time),
        Replacement(s3_notifications, "iso_8601_datetime_with_milliseconds", clock_iso),
    ]


NOTIFICATION_CLOCK = Patch("s3-notification-times-from-clock", "s3", _notification_clock)

# (function ARN, the notification's bucket ARN) -> whether the function may be invoked
MayInvoke = Callable[[str, str], bool]


def _lambda_notifications_permitted(may_invoke: MayInvoke) -> list[Replacement]:
    """A bucket's notification invokes a function only when `may_invoke(function, bucket)`.

    Why: moto invokes whatever function a notification names; AWS first checks the
    function's resource-based policy for s3.amazonaws.com and the bucket (under IAM
    enforcement the emulator does, `pablo.local.iam.check_invoke`). Refused, the event is
    dropped, as AWS drops it.
    """
    original = s3_notifications._invoke_awslambda

    @functools.wraps(original)
    def invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region: str) -> None:
        records = event_body.get("Records") or [{}]
        bucket_arn = str(records[0].get("s3", {}).get("bucket", {}).get("arn", ""))
        if may_invoke(fn_arn, bucket_arn):
            original(account_id, event_body, fn_arn, region)

    return [Replacement(s3_notifications, "_invoke_awslambda", invoke_awslambda)]


LAMBDA_NOTIFICATIONS_PERMITTED = Patch(
    "s3-lambda-notifications-permitted", "s3", _lambda_notifications_permitted
)
