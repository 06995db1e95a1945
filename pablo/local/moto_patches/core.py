"""moto's server itself, and the serializer of every answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import moto.core.serialize as moto_serialize
from moto import backends as moto_backends

from pablo.local.moto_patches.registry import Patch, Replacement


def _module_list_cached() -> list[Replacement]:
    """moto's server lists its own package directory once, not on every request.

    Why: `DomainDispatcherApplication.get_backend_for_host` asks
    `moto.backends.list_of_moto_modules()` on every request, which lists moto's folder and
    stats each of its ~190 entries: measured at about 6% of the emulator's CPU in the demo.
    The folder does not change while the server runs, so the answer is computed once.
    """
    modules = frozenset(moto_backends.list_of_moto_modules())
    return [Replacement(moto_backends, "list_of_moto_modules", lambda: modules)]


MODULE_LIST_CACHED = Patch("moto-module-list-cached", "core", _module_list_cached)


# An ISO 8601 date and time, as moto stores most of its timestamps (with an optional
# fraction and zone after it); anything else goes to botocore's general parser.
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _timestamps_parsed_directly() -> list[Replacement]:
    """Timestamps moto keeps as ISO 8601 text are parsed by `datetime.fromisoformat`.

    Why: moto's response serializer turns every timestamp it answers with into a datetime
    through botocore's `parse_to_aware_datetime`, which parses text with dateutil: 17% of
    the emulator's time serving a ListObjectsV2 (one LastModified per key), and the same in
    every answer with a timestamp. `fromisoformat` reads the same text to the same datetime
    in UTC, as botocore does, many times faster; text it cannot read, epoch seconds among
    them, still goes to botocore.
    """
    original = moto_serialize.parse_to_aware_datetime

    def parse_to_aware_datetime(value: Any) -> datetime:
        if isinstance(value, str) and _ISO_DATE_TIME.match(value):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return original(value)
            # As botocore: naive text is UTC, an offset is converted to UTC.
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return original(value)

    return [Replacement(moto_serialize, "parse_to_aware_datetime", parse_to_aware_datetime)]


TIMESTAMPS_PARSED_DIRECTLY = Patch(
    "moto-timestamps-parsed-directly", "core", _timestamps_parsed_directly
)
