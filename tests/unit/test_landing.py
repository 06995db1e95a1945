"""Landing inventory core: key classification, the event parser, the record shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.core.errors import ValidationError
from functions.core.landing import (
    LANDING_PREFIXES,
    BucketRole,
    Cadence,
    Classified,
    Reason,
    Unclassified,
    classify,
    landing_record,
    parse_object_created,
)
from pablo.generate.contracts import INPUTS

LANDING = BucketRole.LANDING
FINANCE = BucketRole.FINANCE


def _event(**object_fields: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e-1",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": "2026-09-02T10:15:00Z",
        "detail": {
            "bucket": {"name": "pablo-landing"},
            "object": {"key": "invoices/2026-09/a.csv", "size": 12, **object_fields},
        },
    }


def test_prefixes_match_every_s3_data_contract() -> None:
    # given the documented landing templates (the clicks stream is not a file)
    documented = {}
    for contract in INPUTS:
        match = re.match(r"s3://<(landing|finance) bucket>/(.*)<file>", contract.landing)
        if match:
            documented[contract.name] = match.groups()
    # then the deployed prefixes say the same thing
    cadences = {Cadence.DAY: "YYYY/MM/DD/", Cadence.MONTH: "YYYY-MM/", Cadence.NONE: ""}
    ours = {p.source: (p.bucket.value, p.prefix + cadences[p.cadence]) for p in LANDING_PREFIXES}
    assert ours == documented


@pytest.mark.parametrize(
    ("role", "key", "source", "period"),
    [
        (LANDING, "account_events/2026/09/02/x.jsonl", "account_events", "2026-09-02"),
        (LANDING, "invoices/2026-09/inv.csv", "invoices", "2026-09"),
        (LANDING, "expenses/2026-02/exp.csv", "expenses", "2026-02"),
        (LANDING, "experiments/experiments.csv", "experiments", "all"),
        (LANDING, "assignments/2026/02/28/a.jsonl", "assignments", "2026-02-28"),
        (FINANCE, "landing/salaries/2026-09/s.csv", "salaries", "2026-09"),
        (FINANCE, "landing/ledger/2026-12/l.csv", "ledger", "2026-12"),
    ],
)
def test_every_contract_prefix_is_classified_with_its_period(
    role: BucketRole, key: str, source: str, period: str
) -> None:
    assert classify(role, key) == Classified(source, period)


@pytest.mark.parametrize(
    ("role", "key", "reason"),
    [
        (LANDING, "misc/readme.txt", Reason.UNKNOWN_SOURCE),
        (LANDING, "landing/salaries/2026-09/s.csv", Reason.UNKNOWN_SOURCE),  # wrong bucket
        (FINANCE, "invoices/2026-09/inv.csv", Reason.UNKNOWN_SOURCE),
        (None, "invoices/2026-09/inv.csv", Reason.UNKNOWN_SOURCE),  # some other bucket
        (LANDING, "invoices/2026-13/inv.csv", Reason.BAD_PERIOD),
        (LANDING, "invoices/2026-9/inv.csv", Reason.BAD_PERIOD),
        (LANDING, "invoices/inv.csv", Reason.BAD_PERIOD),
        (LANDING, "account_events/2026/02/30/x.jsonl", Reason.BAD_PERIOD),
        (LANDING, "account_events/2026-09-02/x.jsonl", Reason.BAD_PERIOD),
        (LANDING, "account_events/2026/09/02/late/x.jsonl", Reason.BAD_PERIOD),
        (LANDING, "experiments/2026/x.csv", Reason.BAD_PERIOD),
        (LANDING, "account_events/2026/09/02/", Reason.MISSING_FILE_NAME),
        (FINANCE, "landing/ledger/2026-09/", Reason.MISSING_FILE_NAME),
    ],
)
def test_keys_matching_no_contract_get_a_reason(
    role: BucketRole | None, key: str, reason: Reason
) -> None:
    assert classify(role, key) == Unclassified(reason)


def test_parser_reads_aws_and_moto_spellings_and_normalises_time() -> None:
    # AWS spells `etag`, moto `eTag`; a version id may be absent
    aws = parse_object_created(_event(etag="abc", **{"version-id": "v1"}))
    moto = parse_object_created(_event(eTag='"abc"'))
    assert aws.etag == moto.etag == "abc"
    assert (aws.version_id, moto.version_id) == ("v1", None)
    assert aws.landed_at == datetime(2026, 9, 2, 10, 15, tzinfo=UTC)
    assert aws.landed_at_text == "2026-09-02T10:15:00Z"
    assert (aws.bucket, aws.key, aws.size) == ("pablo-landing", "invoices/2026-09/a.csv", 12)


@pytest.mark.parametrize(
    "change",
    [
        {"source": "aws.events"},
        {"detail-type": "Object Deleted"},
        {"time": "yesterday"},
        {"time": 1780000000.0},
        {"detail": {"bucket": {"name": "b"}, "object": {}}},
        {"detail": None},
    ],
)
def test_parser_rejects_what_is_not_a_usable_object_created_event(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_object_created({**_event(), **change})
    assert raised.value.reason == "bad_event"


def test_record_keys_depend_on_the_file_only_so_redelivery_overwrites() -> None:
    # given the same file delivered twice (different event ids)
    first = parse_object_created(_event(etag="abc"))
    second = parse_object_created({**_event(etag="abc"), "id": "e-2"})
    classification = classify(LANDING, first.key)

    # then both records have the same keys and the documented shape
    a, b = landing_record(first, classification), landing_record(second, classification)
    assert (a["pk"], a["sk"]) == (b["pk"], b["sk"]) == ("landing#invoices", "2026-09#" + first.key)
    assert a == {
        "pk": "landing#invoices",
        "sk": "2026-09#invoices/2026-09/a.csv",
        "source": "invoices",
        "period": "2026-09",
        "bucket": "pablo-landing",
        "key": "invoices/2026-09/a.csv",
        "size": 12,
        "etag": "abc",
        "landed_at": "2026-09-02T10:15:00Z",
        "event_id": "e-1",
    }


def test_unclassified_record_keeps_bucket_key_and_reason() -> None:
    landed = parse_object_created(_event())
    record = landing_record(landed, Unclassified(Reason.BAD_PERIOD))
    assert record["pk"] == "landing#unclassified"
    assert record["sk"] == "pablo-landing#invoices/2026-09/a.csv"
    assert record["reason"] == "bad_period" and record["landed_at"] == "2026-09-02T10:15:00Z"
