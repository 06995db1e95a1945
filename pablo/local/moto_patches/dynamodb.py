"""DynamoDB: a request is seen whole by every other request, as in AWS; a Query reads its
partition, not the table; items are serialized directly."""

from __future__ import annotations

import functools
import threading
from typing import Any, Final

from moto.core.serialize import (
    DEFAULT_ALIAS_PROVIDERS,
    BaseJSONSerializer,
    XFormedAttributePicker,
)
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from pablo.local.moto_patches.registry import Patch, Replacement

# The shape of every attribute value in DynamoDB's API.
ATTRIBUTE_VALUE: Final = "AttributeValue"


def _requests_atomic() -> list[Replacement]:
    """DynamoDB requests are answered one at a time.

    Why: moto's UpdateItem of an item that does not exist yet first stores the bare key,
    then applies the update expression to it; on an existing item it applies the
    expression's actions one by one. A GetItem on another server thread can answer in
    between, with the key alone or half the update: seen as a freshness record without its
    `landed_at` while the landing inventory was writing it. AWS applies an item write
    atomically. DynamoDB requests are short and in-memory, so one lock costs little; it is
    re-entrant in case a request's handling ever issues another.
    """
    original = DynamoHandler.call_action
    lock = threading.RLock()

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    return [Replacement(DynamoHandler, "call_action", call_action)]


REQUESTS_ATOMIC = Patch("dynamodb-requests-atomic", "dynamodb", _requests_atomic)


def _query_reads_its_partition() -> list[Replacement]:
    """A Query of a table (not of an index) reads only the items of the hash key asked.

    Why: moto's `Table.query` takes its candidates from `all_items()`, which sorts every item
    of the table, then keeps those of the hash key: the state table holds a record per
    landed file, so a Query of one partition (the engagement days, the month sign-offs)
    grew with every file landed: 47 ms on average in a default demo, 9.6% of the
    emulator's request CPU. 90 days in a table of 3,090 items: 73 ms a Query stock, 43 ms
    with this (the rest is moto answering with the 90 items). While such a query runs on
    this thread, `all_items` of its table gives the partition's items in range-key order,
    which is what moto keeps of the sorted whole; moto's own code then does the rest
    (conditions, order, paging, filters).
    """
    original_query = Table.query
    original_all_items = Table.all_items
    asked = threading.local()

    def all_items(self: Table) -> list[Any]:
        if getattr(asked, "table", None) is self:
            partition = self.items.get(asked.hash_key, {})
            return sorted(partition.values(), key=lambda item: item.range_key)
        return original_all_items(self)

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None or not self.range_key_attr:
            return original_query(self, hash_key, *args, **kwargs)
        asked.table, asked.hash_key = self, hash_key
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            asked.table = None

    return [Replacement(Table, "query", query), Replacement(Table, "all_items", all_items)]


QUERY_READS_ITS_PARTITION = Patch(
    "dynamodb-query-reads-its-partition", "dynamodb", _query_reads_its_partition
)


class _NotPlainError(Exception):
    """A value the direct serialization does not take: moto's serializer answers it."""


def _attribute_value(serializer: Any, value: Any, shape: Any) -> dict[str, Any]:
    """An AttributeValue as moto's JSON serializer writes it: `{type: value}`."""
    if type(value) is not dict or len(value) != 1:
        raise _NotPlainError
    ((name, inner),) = value.items()
    member = shape.members.get(name)
    if member is None:
        raise _NotPlainError
    return {serializer.get_serialized_name(member, name): _member(serializer, inner, member)}


def _member(serializer: Any, value: Any, shape: Any) -> Any:
    """A member of an AttributeValue, by its shape's type, as the serializer's
    `_serialize_type_<type>` writes it; anything else is not plain."""
    kind = shape.type_name
    if kind == "string" and type(value) is str:
        return value
    if kind == "boolean" and type(value) is bool:
        return value
    if kind == "blob" and isinstance(value, (bytes, str)):
        return serializer._base64(value)
    if kind == "list" and type(value) is list:
        return [_member(serializer, item, shape.member) for item in value]
    if kind == "map" and type(value) is dict and all(type(k) is str and k for k in value):
        return {k: _member(serializer, v, shape.value) for k, v in value.items()}
    if kind == "structure" and shape.name == ATTRIBUTE_VALUE:
        return _attribute_value(serializer, value, shape)
    raise _NotPlainError


def _attribute_values_serialized_directly() -> list[Replacement]:
    """A DynamoDB AttributeValue (`{"S": "..."}`, `{"M": {...}}`, ...) in a response is
    written straight from its one type and value, not member by member.

    Why: moto's JSON serializer writes a structure by asking its value picker for each of
    the shape's members through six alias providers (and their snake_case forms): for an
    AttributeValue, ten members of which one is set, about 20 lookups and as many objects
    per attribute of every item. A Query of 53 small items spent about three quarters of
    its serving time there. The direct path takes only a plain `{type: value}` dict (what
    moto's `dynamo_to_dict` gives) under the default picker without response transformers,
    and writes each type as the serializer's own method for it does (strings and booleans
    as they are, blobs through its `_base64`, lists and maps member by member); anything
    else, including a value it does not recognise, goes through moto's serializer.
    """
    original = BaseJSONSerializer._serialize_type_structure

    @functools.wraps(original)
    def serialize_structure(
        self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str
    ) -> None:
        if key and shape.name == ATTRIBUTE_VALUE and _default_picking(self):
            try:
                plain = _attribute_value(self, value, shape)
            except _NotPlainError:
                pass
            else:
                self._default_serialize(serialized, plain, shape, key)
                return
        original(self, serialized, value, shape, key)

    return [Replacement(BaseJSONSerializer, "_serialize_type_structure", serialize_structure)]


def _default_picking(serializer: BaseJSONSerializer) -> bool:
    """The serializer answers DynamoDB and picks values as moto's actions do by default."""
    picker = serializer._value_picker
    return (
        serializer.service_model.service_name == "dynamodb"
        and type(picker) is XFormedAttributePicker
        and picker.alias_providers is DEFAULT_ALIAS_PROVIDERS
        and not picker.response_transformers
    )


ATTRIBUTE_VALUES_SERIALIZED_DIRECTLY = Patch(
    "dynamodb-attribute-values-serialized-directly",
    "dynamodb",
    _attribute_values_serialized_directly,
)
