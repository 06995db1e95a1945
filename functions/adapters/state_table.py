"""The pipeline state table (DynamoDB, `pk`/`sk` strings): every record the pipelines keep
there, read and written through one (de)serialiser pair.

Records: landing freshness per source, engagement days and the newest click time, the
account-event ledger, profit months and their sign-offs, what each executive row was built
from, on-call acknowledgements and quarantine replays. Item shapes that core decides (the
keys of engagement days, acknowledgements, replays) come from core; the client is passed
in and nothing here reads the environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws_errors import classified, error_code
from functions.core.engagement_state import DAY_PK, FRESHNESS_PK, FRESHNESS_SK, DayState, day_state
from functions.core.landing import Landed, freshness_key
from functions.core.monitor import oncall, oncall_replay
from functions.core.monitor.oncall import Ack
from functions.core.report.executive_period import Period
from functions.core.times import format_millis, parse_time
from functions.core.transform import profit_review

MONTH_PK: Final = "profit#month"
SIGNOFF_PK: Final = "profit#signoff"
BUILT_FROM_PK: Final = "executive#built-from"
EVENT_PK_PREFIX: Final = "account_event#"
EVENT_SK: Final = "first_landed"
CONDITION_FAILED: Final = "ConditionalCheckFailedException"
BATCH_GET_LIMIT: Final = 100
BATCH_WRITE_LIMIT: Final = 25

_SERIALIZER: Final = TypeSerializer()
_DESERIALIZER: Final = TypeDeserializer()


def attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain Python values as DynamoDB attribute values."""
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as plain Python values."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


# --- generic operations ----------------------------------------------------------------


def put_record(dynamodb: Any, *, table: str, item: Mapping[str, Any]) -> None:
    """Write `item` (with its pk and sk); a second write of the same keys overwrites it,
    which makes a redelivered event harmless."""
    try:
        dynamodb.put_item(TableName=table, Item=attributes(item))
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"put {item.get('pk')}/{item.get('sk')}") from exc


def get_item(dynamodb: Any, *, table: str, pk: str, sk: str) -> dict[str, Any] | None:
    """One item as plain Python values (strongly consistent), or None."""
    try:
        response = dynamodb.get_item(
            TableName=table, Key=attributes({"pk": pk, "sk": sk}), ConsistentRead=True
        )
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"get {pk}/{sk}") from exc
    raw = response.get("Item")
    return plain(raw) if raw is not None else None


def query(dynamodb: Any, *, table: str, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
    """Every item of `pk` (whose sk starts with `sk_prefix`), all pages, strongly
    consistent, as plain values in sk order."""
    condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if sk_prefix else "")
    values: dict[str, Any] = {":pk": pk}
    if sk_prefix:
        values[":prefix"] = sk_prefix
    items: list[dict[str, Any]] = []
    try:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=attributes(values),
            ConsistentRead=True,
        )
        for page in pages:
            items.extend(plain(raw) for raw in page.get("Items", []))
    except (ClientError, BotoCoreError) as exc:
        raise classified(exc, f"query {pk}") from exc
    return items


def update_if(
    dynamodb: Any,
    *,
    table: str,
    key: Mapping[str, str],
    update: str,
    condition: str | None,
    values: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    what: str,
) -> bool:
    """UpdateItem; False (nothing changed) when `condition` does not hold."""
    extra: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
    if names:
        extra["ExpressionAttributeNames"] = dict(names)
    try:
        dynamodb.update_item(
            TableName=table,
            Key=attributes(key),
            UpdateExpression=update,
            ExpressionAttributeValues=attributes(values),
            **extra,
        )
    except ClientError as exc:
        if condition and error_code(exc) == CONDITION_FAILED:
            return False
        raise classified(exc, what) from exc
    except BotoCoreError as exc:
        raise classified(exc, what) from exc
    return True


def put_new(dynamodb: Any, *, table: str, item: Mapping[str, Any]) -> bool:
    """Write `item` unless its key exists; False when it did (nothing written)."""
    try:
        dynamodb.put_item(
            TableName=table, Item=attributes(item), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if error_code(exc) == CONDITION_FAILED:
            return False
        raise classified(exc, f"put {item.get('pk')}/{item.get('sk')}") from exc
    except BotoCoreError as exc:
        raise classified(exc, f"put {item.get('pk')}/{item.get('sk')}") from exc
    return True


def batch_get(
    dynamodb: Any, *, table: str, keys: Iterable[Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The items that exist of `keys` (BatchGetItem, BATCH_GET_LIMIT at a time, unprocessed
    keys asked again), as plain values."""
    wanted = [attributes(k) for k in keys]
    found: list[dict[str, Any]] = []
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        request: dict[str, Any] = {
            table: {"Keys": wanted[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}
        }
        while request:
            try:
                answer = dynamodb.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise classified(exc, "state table batch get") from exc
            found.extend(plain(item) for item in answer.get("Responses", {}).get(table, []))
            request = answer.get("UnprocessedKeys") or {}
    return found


def batch_put(dynamodb: Any, *, table: str, items: Iterable[Mapping[str, Any]]) -> int:
    """Write the items (BatchWriteItem, BATCH_WRITE_LIMIT at a time, unprocessed items sent
    again); how many."""
    requests = [{"PutRequest": {"Item": attributes(item)}} for item in items]
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table: requests[start : start + BATCH_WRITE_LIMIT]}
        while pending:
            try:
                response = dynamodb.batch_write_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                raise classified(exc, "state table batch write") from exc
            pending = response.get("UnprocessedItems") or {}
    return len(requests)


# --- landing freshness -----------------------------------------------------------------


def advance_freshness(dynamodb: Any, *, table: str, source: str, landed_at: str, key: str) -> bool:
    """Set the source's newest landed_at to `landed_at` if it is newer than the stored one.

    Times are ISO 8601 UTC strings of one format, so string order is time order. Returns
    False (nothing written) when an equal or newer landing is already recorded: a late or
    redelivered event never moves freshness backwards.
    """
    return update_if(
        dynamodb,
        table=table,
        key=freshness_key(source),
        update="SET landed_at = :landed_at, #key = :key, #source = :source",
        condition="attribute_not_exists(landed_at) OR landed_at < :landed_at",
        names={"#key": "key", "#source": "source"},
        values={":landed_at": landed_at, ":key": key, ":source": source},
        what=f"freshness of {source}",
    )


# --- engagement days and click freshness -----------------------------------------------


def mark_dirty(dynamodb: Any, *, table: str, day: str, arrived_at: datetime) -> bool:
    """Count a late arrival for `day` if the day was already aggregated; True if marked
    (a day never aggregated is not: its first run will see the click anyway)."""
    return update_if(
        dynamodb,
        table=table,
        key={"pk": DAY_PK, "sk": day},
        update="ADD marks :one SET last_late_arrival = :at",
        condition="attribute_exists(aggregated_at)",
        values={":one": 1, ":at": format_millis(arrived_at)},
        what=f"mark {day} dirty",
    )


def day_states(dynamodb: Any, *, table: str) -> list[DayState]:
    """Every engagement day the state table knows."""
    return [day_state(item) for item in query(dynamodb, table=table, pk=DAY_PK)]


def get_day_state(dynamodb: Any, *, table: str, day: date) -> DayState:
    found = get_item(dynamodb, table=table, pk=DAY_PK, sk=day.isoformat())
    return day_state(found or {"sk": day.isoformat()})


def record_aggregated(
    dynamodb: Any,
    *,
    table: str,
    day: date,
    at: datetime,
    seen_marks: int,
    run_id: str,
    landed: int,
    unknown_accounts: Sequence[str] = (),
) -> None:
    """The day is published as of `seen_marks` late arrivals (marks that come after stay dirty);
    `aggregated_at` keeps the first publication; `landed` = distinct clicks kept (0 for a day
    aggregated before any data: it covers nothing); `unknown_accounts`: the accounts whose
    clicks this run quarantined as unknown (the day is recomputed once one is created)."""
    update_if(
        dynamodb,
        table=table,
        key={"pk": DAY_PK, "sk": day.isoformat()},
        update=(
            "SET aggregated_at = if_not_exists(aggregated_at, :at), clean_marks = :seen, "
            "last_run = :run, last_run_at = :at, landed = :landed, unknown_accounts = :unknown"
        ),
        condition=None,
        values={
            ":at": format_millis(at),
            ":seen": seen_marks,
            ":run": run_id,
            ":landed": landed,
            ":unknown": sorted(unknown_accounts),
        },
        what=f"record {day} aggregated",
    )


def advance_newest_event(dynamodb: Any, *, table: str, newest: datetime) -> bool:
    """Move the newest event time landed forward (never back); True if it moved."""
    return update_if(
        dynamodb,
        table=table,
        key={"pk": FRESHNESS_PK, "sk": FRESHNESS_SK},
        update="SET newest_event_time = :t",
        condition="attribute_not_exists(newest_event_time) OR newest_event_time < :t",
        values={":t": format_millis(newest)},
        what="advance newest event time",
    )


def newest_event(dynamodb: Any, *, table: str) -> datetime | None:
    item = get_item(dynamodb, table=table, pk=FRESHNESS_PK, sk=FRESHNESS_SK)
    return parse_time(item["newest_event_time"]) if item else None


# --- the account-event ledger (first copy landed wins) ---------------------------------


def _event_key(event_id: str) -> dict[str, str]:
    return {"pk": f"{EVENT_PK_PREFIX}{event_id}", "sk": EVENT_SK}


def _landed(item: Mapping[str, Any]) -> Landed:
    return Landed(content_hash=str(item["content_hash"]), source_key=str(item["source_key"]))


def landed_events(dynamodb: Any, *, table: str, event_ids: Iterable[str]) -> dict[str, Landed]:
    """What the ledger holds for these ids."""
    keys = [_event_key(i) for i in sorted(set(event_ids))]
    return {
        str(item["pk"])[len(EVENT_PK_PREFIX) :]: _landed(item)
        for item in batch_get(dynamodb, table=table, keys=keys)
    }


def claim_event(
    dynamodb: Any, *, table: str, event_id: str, content_hash: str, source_key: str
) -> Landed:
    """Record `source_key` as the first file that landed `event_id`, unless another file
    already did; returns the ledger's entry either way (a conditional write, so two files
    racing for one id agree on the winner)."""
    claimed = Landed(content_hash=content_hash, source_key=source_key)
    item = {**_event_key(event_id), "content_hash": content_hash, "source_key": source_key}
    if put_new(dynamodb, table=table, item=item):
        return claimed
    key = _event_key(event_id)
    found = get_item(dynamodb, table=table, pk=key["pk"], sk=key["sk"])
    return _landed(found or {})


# --- profit months and their sign-offs -------------------------------------------------


def record_month(dynamodb: Any, *, table: str, month: str, item: Mapping[str, Any]) -> None:
    put_record(dynamodb, table=table, item={"pk": MONTH_PK, "sk": month, **item})


def month_record(dynamodb: Any, *, table: str, month: str) -> dict[str, Any] | None:
    """The profit pipeline's record of the month (publication status, reconciliation)."""
    return get_item(dynamodb, table=table, pk=MONTH_PK, sk=month)


def month_records(dynamodb: Any, *, table: str) -> list[dict[str, Any]]:
    """Every computed month's record."""
    return query(dynamodb, table=table, pk=MONTH_PK)


def signoffs(dynamodb: Any, *, table: str, month: str) -> list[dict[str, Any]]:
    """Every sign-off of `month`, oldest first (an append-only trail: one item each)."""
    items = query(dynamodb, table=table, pk=SIGNOFF_PK, sk_prefix=f"{month}#")
    return sorted(items, key=lambda item: str(item["sk"]))


def signoff(dynamodb: Any, *, table: str, month: str) -> dict[str, Any] | None:
    """The latest sign-off of `month`, or None."""
    trail = signoffs(dynamodb, table=table, month=month)
    return trail[-1] if trail else None


def record_signoff(
    dynamodb: Any, *, table: str, month: str, by: str, note: str, at: datetime, figures: str
) -> dict[str, Any]:
    """Append a sign-off of `figures` (the month's reconciliation as the accountant saw
    it); the item written. Refused (ValidationError) when the latest covers them already."""
    latest = signoff(dynamodb, table=table, month=month)
    item = {
        "pk": SIGNOFF_PK,
        **profit_review.signoff_item(
            month=month, by=by, note=note, at=at, figures=figures, latest=latest
        ),
    }
    put_record(dynamodb, table=table, item=item)
    return item


# --- what an executive row was built from ----------------------------------------------


def _built_from_key(period: Period) -> str:
    return f"{period.grain}#{period.name}"


def record_built_from(
    dynamodb: Any, *, table: str, period: Period, versions: dict[str, str], run_id: str
) -> None:
    """The input versions the published row of `period` was built from."""
    put_record(
        dynamodb,
        table=table,
        item={
            "pk": BUILT_FROM_PK,
            "sk": _built_from_key(period),
            "versions": json.dumps(versions, sort_keys=True),
            "run_id": run_id,
        },
    )


def built_from(dynamodb: Any, *, table: str, period: Period) -> dict[str, str] | None:
    item = get_item(dynamodb, table=table, pk=BUILT_FROM_PK, sk=_built_from_key(period))
    if item is None:
        return None
    versions: dict[str, str] = json.loads(str(item["versions"]))
    return versions


# --- on call: acknowledgements and quarantine replays ----------------------------------


def record_ack(dynamodb: Any, *, table: str, ack: Ack) -> None:
    put_record(dynamodb, table=table, item=ack.item())


def acks(dynamodb: Any, *, table: str, alarm: str | None = None) -> list[Ack]:
    """Acknowledgements (of one alarm, or all), oldest first."""
    prefix = f"{alarm}#" if alarm else ""
    items = query(dynamodb, table=table, pk=oncall.ACK_PK, sk_prefix=prefix)
    return [oncall.ack_from_item(item) for item in items]


def close_ack(dynamodb: Any, *, table: str, ack: Ack, at: str, reason: str) -> bool:
    """Close an open acknowledgement; False if it was already closed (redelivery)."""
    return update_if(
        dynamodb,
        table=table,
        key=ack.key(),
        update="SET #status = :closed, closed_at = :at, closed_reason = :reason",
        condition="#status = :open",
        names={"#status": "status"},
        values={":closed": oncall.CLOSED, ":open": oncall.OPEN, ":at": at, ":reason": reason},
        what=f"close the acknowledgement of {ack.alarm}",
    )


def replayed_digests(dynamodb: Any, *, table: str, pipeline: str, reason: str) -> set[str]:
    items = query(dynamodb, table=table, pk=oncall_replay.replayed_pk(pipeline, reason))
    return {str(item["sk"]) for item in items}


def mark_replayed(
    dynamodb: Any, *, table: str, pipeline: str, reason: str, digests: Iterable[str], at: str
) -> int:
    """One item per replayed record, so the next replay skips it. Returns how many."""
    pk = oncall_replay.replayed_pk(pipeline, reason)
    items = [{"pk": pk, "sk": d, "replayed_at": at} for d in sorted(set(digests))]
    return batch_put(dynamodb, table=table, items=items)


def replay_runs(dynamodb: Any, *, table: str) -> list[dict[str, Any]]:
    return query(dynamodb, table=table, pk=oncall_replay.REPLAY_PK)
