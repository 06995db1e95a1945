"""moto_patches.core moto-timestamps-parsed-directly: answers carry the same timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from moto.core.serialize import TimestampSerializer

from pablo.local.moto_patches import core, registry

FORMATS = ("iso8601", "iso8601_zeroed", "rfc822", "unixtimestamp")
VALUES: tuple[Any, ...] = (
    "2026-09-01T06:05:04.123Z",
    "2026-09-01T06:05:04Z",
    "2026-09-01T06:05:04.123456+00:00",
    "2026-09-01T06:05:04+02:00",
    "2026-09-01 06:05:04",
    "2026-09-01T06:05",
    "2026-09-01",
    "1788242704",
    1788242704,
    datetime(2026, 9, 1, 6, 5, 4, tzinfo=UTC),
    datetime(2026, 9, 1, 6, 5, 4, 500, tzinfo=timezone(timedelta(hours=-5))),
)


def _serialized() -> list[str | int | float]:
    return [
        TimestampSerializer(fmt)._convert_timestamp_to_str(value, fmt)
        for value in VALUES
        for fmt in FORMATS
    ]


def test_every_format_of_every_kind_of_timestamp_is_unchanged() -> None:
    # Given what moto answers for each timestamp in each wire format
    stock = _serialized()
    # When the patch is applied
    registry.apply(core.TIMESTAMPS_PARSED_DIRECTLY)
    try:
        fast = _serialized()
    finally:
        registry.restore(core.TIMESTAMPS_PARSED_DIRECTLY)
    # Then every answer is the same
    assert fast == stock
    assert stock[:2] == ["2026-09-01T06:05:04.123000Z", "2026-09-01T06:05:04.000Z"]
