"""S3 notifications: times from the emulator clock, and Lambda invoked only as the
function's resource-based policy allows; listings that read only the prefix asked."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import moto.s3.notifications as s3_notifications
from moto.core.utils import unix_time
from moto.s3.models import FakeBucket, S3Backend

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


class _PrefixKeys:
    """The keys of a bucket's store under one prefix, as moto's listing iterates them."""

    def __init__(self, store: dict[str, Any], prefix: str) -> None:
        self._store = store
        self._prefix = prefix

    def items(self) -> Iterator[tuple[str, Any]]:
        # list(): one copy of the names (atomic under the GIL), so a write on another thread
        # cannot change the dict under the loop.
        for name in list(dict.keys(self._store)):
            if name.startswith(self._prefix):
                found = self._store.get(name)
                if found is not None:
                    yield name, found


class _PrefixBucket:
    """A bucket as moto's `list_objects` reads it: its keys under the prefix asked."""

    def __init__(self, bucket: Any, prefix: str) -> None:
        self.keys = _PrefixKeys(bucket.keys, prefix)
        self.name = bucket.name


def _list_prefix_fast() -> list[Replacement]:
    """A listing with a prefix reads only the keys under it.

    Why: moto's `list_objects` (behind ListObjects and ListObjectsV2) copies the bucket's
    whole key store and fetches every key's newest version through Python-level lookups,
    then keeps those under the prefix: 31% of the CPU of the requests a 20-day demo served
    (3,466 listings at 4.4 ms each, the lake's buckets holding thousands of keys for a
    listing of a few). Here only the names are copied and filtered, and only the matches are
    fetched; moto's own code then does everything else (delimiters, delete markers, order,
    pagination), so its answer is unchanged.
    """
    original: Callable[..., Any] = S3Backend.list_objects

    @functools.wraps(original)
    def list_objects(
        self: S3Backend, bucket: Any, prefix: str | None, *args: Any, **kw: Any
    ) -> Any:
        if prefix and type(bucket) is FakeBucket:  # not a subclass (table storage)
            return original(self, _PrefixBucket(bucket, prefix), prefix, *args, **kw)
        return original(self, bucket, prefix, *args, **kw)

    return [Replacement(S3Backend, "list_objects", list_objects)]


LIST_PREFIX_FAST = Patch("s3-list-prefix-fast", "s3", _list_prefix_fast)
