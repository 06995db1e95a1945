"""The landing inventory: which contract a landed file belongs to, and what to record.

Every file the company delivers (docs/data-contracts.md) lands under a fixed prefix with a
delivery period in its path: a day (`YYYY/MM/DD/`), a month (`YYYY-MM/`) or none
(experiments). S3 tells EventBridge about each new object; this module turns that event
into a `LandedFile`, classifies its key against the landing prefixes (or gives the reason
it matches none) and builds the state-table records. Pure: no boto3, no environment.

The prefixes below are the deployed copy of `pablo.generate.contracts` (which is not
deployed); tests/unit/test_landing.py keeps the two equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

from functions.core.errors import ValidationError
from functions.core.times import format_seconds, parse_event_time

S3_SOURCE: Final = "aws.s3"
OBJECT_CREATED: Final = "Object Created"
UNCLASSIFIED: Final = "unclassified"
LANDING_PK_PREFIX: Final = "landing#"
FRESHNESS_PK_PREFIX: Final = "freshness#"
FRESHNESS_SK: Final = "latest"
# Keys under this prefix in the finance bucket are deliveries; the rest of that bucket is
# pipeline output (raw and curated finance tables) and is not inventoried.
FINANCE_LANDING_ROOT: Final = "landing/"
# A file without a delivery period (experiments) is recorded under this period.
NO_PERIOD: Final = "all"


class BucketRole(StrEnum):
    """Which bucket a file landed in (the handler maps physical names to these)."""

    LANDING = "landing"
    FINANCE = "finance"


class Cadence(StrEnum):
    DAY = "day"  # YYYY/MM/DD/<file>
    MONTH = "month"  # YYYY-MM/<file>
    NONE = "none"  # <file>


class Reason(StrEnum):
    """Why a landed file matches no data contract (recorded with it, nothing is dropped)."""

    UNKNOWN_SOURCE = "unknown_source"  # no contract's prefix
    BAD_PERIOD = "bad_period"  # a contract's prefix, but no valid day or month after it
    MISSING_FILE_NAME = "missing_file_name"  # a "folder" object such as `invoices/2026-09/`


@dataclass(frozen=True)
class LandingPrefix:
    source: str  # the data contract's name (pablo.generate.contracts)
    bucket: BucketRole
    prefix: str
    cadence: Cadence


LANDING_PREFIXES: Final[tuple[LandingPrefix, ...]] = (
    LandingPrefix("account_events", BucketRole.LANDING, "account_events/", Cadence.DAY),
    LandingPrefix("invoices", BucketRole.LANDING, "invoices/", Cadence.MONTH),
    LandingPrefix("expenses", BucketRole.LANDING, "expenses/", Cadence.MONTH),
    LandingPrefix("experiments", BucketRole.LANDING, "experiments/", Cadence.NONE),
    LandingPrefix("assignments", BucketRole.LANDING, "assignments/", Cadence.DAY),
    LandingPrefix("salaries", BucketRole.FINANCE, "landing/salaries/", Cadence.MONTH),
    LandingPrefix("ledger", BucketRole.FINANCE, "landing/ledger/", Cadence.MONTH),
)

_DAY_PATH: Final = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/(.*)$")
_MONTH_PATH: Final = re.compile(r"^(\d{4})-(\d{2})/(.*)$")


@dataclass(frozen=True)
class LandedFile:
    """One S3 "Object Created" event, reduced to what the inventory records."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    landed_at: datetime  # the event's time (UTC)
    event_id: str

    @property
    def landed_at_text(self) -> str:
        return format_seconds(self.landed_at)


@dataclass(frozen=True)
class Classified:
    source: str
    period: str  # YYYY-MM-DD, YYYY-MM or NO_PERIOD


@dataclass(frozen=True)
class Unclassified:
    reason: Reason


Classification = Classified | Unclassified


def parse_object_created(event: dict[str, Any]) -> LandedFile:
    """The landed file of an EventBridge S3 "Object Created" event; ValidationError if the
    event is anything else or lacks a field the inventory needs."""
    if event.get("source") != S3_SOURCE or event.get("detail-type") != OBJECT_CREATED:
        raise ValidationError(
            f"not an S3 Object Created event: source={event.get('source')!r} "
            f"detail-type={event.get('detail-type')!r}",
            reason="bad_event",
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise ValidationError("S3 event without detail", reason="bad_event")
    bucket = (detail.get("bucket") or {}).get("name")
    obj = detail.get("object") or {}
    key = obj.get("key")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise ValidationError("S3 event without bucket name or object key", reason="bad_event")
    time_text = event.get("time")
    if not isinstance(time_text, str):
        raise ValidationError(f"S3 event time {time_text!r} is not a string", reason="bad_event")
    # AWS spells it `etag`; moto spells it `eTag`.
    etag = obj.get("etag", obj.get("eTag", ""))
    version_id = obj.get("version-id")
    return LandedFile(
        bucket=bucket,
        key=key,
        size=int(obj.get("size") or 0),
        etag=str(etag or "").strip('"'),
        version_id=str(version_id) if version_id not in (None, "", "null") else None,
        landed_at=parse_event_time(time_text),
        event_id=str(event.get("id", "")),
    )


def classify(role: BucketRole | None, key: str) -> Classification:
    """The contract and delivery period of `key` in a bucket of `role`, or why there is none.

    `role` is None for a bucket that is neither the landing nor the finance bucket.
    """
    for landing in LANDING_PREFIXES:
        if landing.bucket == role and key.startswith(landing.prefix):
            return _period_of(landing, key[len(landing.prefix) :])
    return Unclassified(Reason.UNKNOWN_SOURCE)


def _period_of(landing: LandingPrefix, rest: str) -> Classification:
    if landing.cadence is Cadence.NONE:
        return _with_file(landing.source, NO_PERIOD, rest)
    pattern = _DAY_PATH if landing.cadence is Cadence.DAY else _MONTH_PATH
    match = pattern.match(rest)
    if match is None:
        return Unclassified(Reason.BAD_PERIOD)
    *parts, file_name = match.groups()
    numbers = [int(p) for p in parts]
    try:
        day = date(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1)
    except ValueError:
        return Unclassified(Reason.BAD_PERIOD)
    period = day.isoformat() if landing.cadence is Cadence.DAY else day.strftime("%Y-%m")
    return _with_file(landing.source, period, file_name)


def _with_file(source: str, period: str, file_name: str) -> Classification:
    # One file directly under the period: deeper paths or a trailing slash are not files
    # the contract describes.
    if not file_name or file_name.endswith("/"):
        return Unclassified(Reason.MISSING_FILE_NAME)
    if "/" in file_name:
        return Unclassified(Reason.BAD_PERIOD)
    return Classified(source, period)


def landing_record(landed: LandedFile, classification: Classification) -> dict[str, Any]:
    """The state-table item for one landed file. Its key depends only on the file (never
    on the event), so a redelivered event overwrites the same item."""
    common: dict[str, Any] = {
        "bucket": landed.bucket,
        "key": landed.key,
        "size": landed.size,
        "etag": landed.etag,
        "landed_at": landed.landed_at_text,
        "event_id": landed.event_id,
    }
    if landed.version_id is not None:
        common["version_id"] = landed.version_id
    if isinstance(classification, Classified):
        return {
            "pk": f"{LANDING_PK_PREFIX}{classification.source}",
            "sk": f"{classification.period}#{landed.key}",
            "source": classification.source,
            "period": classification.period,
            **common,
        }
    return {
        "pk": f"{LANDING_PK_PREFIX}{UNCLASSIFIED}",
        "sk": f"{landed.bucket}#{landed.key}",
        "reason": classification.reason.value,
        **common,
    }


def freshness_key(source: str) -> dict[str, str]:
    """Where the newest landed_at of a source is kept."""
    return {"pk": f"{FRESHNESS_PK_PREFIX}{source}", "sk": FRESHNESS_SK}


@dataclass(frozen=True)
class Landed:
    """What the state table remembers of an event_id: its content and first file."""

    content_hash: str
    source_key: str
