"""moto's server itself, and the serializer of every answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
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


# (member shape, its parent, member name) -> the keys moto tries on a dict, in order
_KeysOfDict = dict[tuple[int, int, str], tuple[Any, Any, tuple[str, ...]]]


def _dict_keys_listed_once_per_answer() -> list[Replacement]:
    """While one answer is serialized, the keys moto tries for a member of a plain `dict`
    are listed once per member shape, not once per value.

    Why: moto's serializer picks each member of each structure in an answer through
    `XFormedAttributePicker.get_possible_keys`, which builds six alias providers and asks
    each (plus the snake_case form of each alias) on every value: a PutRecords answer of
    500 records, or a Query of many items, asks them thousands of times for the same few
    member shapes. For a value that is exactly a `dict`, what the providers answer depends
    on the member's shape, its parent shape and its name alone (a dict has no `Meta`, and
    its class name is always `dict`), so the list moto builds the first time is kept on the
    picker, which moto creates anew for every answer, and used again; the values are then
    looked up in that order as before. Other values, and pickers with other providers, go
    through moto's code.
    """
    original = moto_serialize.XFormedAttributePicker.get_possible_keys

    def get_possible_keys(self: Any, context: Any) -> Iterator[str]:
        if type(context.obj) is not dict or (
            self.alias_providers is not moto_serialize.DEFAULT_ALIAS_PROVIDERS
        ):
            return original(self, context)
        listed: _KeysOfDict = self.__dict__.setdefault("_pablo_keys_of_dict", {})
        shape = context.shape
        parent = getattr(shape, "parent", None)
        found = listed.get((id(shape), id(parent), context.key))
        if found is None or found[0] is not shape or found[1] is not parent:
            found = (shape, parent, tuple(original(self, context)))
            listed[(id(shape), id(parent), context.key)] = found
        return iter(found[2])

    return [
        Replacement(moto_serialize.XFormedAttributePicker, "get_possible_keys", get_possible_keys)
    ]


DICT_KEYS_LISTED_ONCE_PER_ANSWER = Patch(
    "moto-dict-keys-listed-once-per-answer", "core", _dict_keys_listed_once_per_answer
)
