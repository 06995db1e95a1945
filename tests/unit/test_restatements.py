"""The restatements table: why a republished period changed, and its empty form."""

from __future__ import annotations

import pytest

from functions.core import codes, restatements, schemas


@pytest.mark.parametrize(
    ("backfilled", "inputs_changed", "published_status", "expected"),
    [
        # a backfill wins over everything else
        (True, True, "final", "backfill"),
        (True, False, "preliminary", "backfill"),
        # an input changed since the published row was built: late data
        (False, True, "final", "late_data"),
        # nothing changed, but the row was preliminary: the late data it waited for
        (False, False, "preliminary", "late_data"),
        # nothing changed and the row was final or signed off: a correction
        (False, False, "final", "correction"),
        (False, False, "signed_off", "correction"),
    ],
)
def test_republish_reason(
    backfilled: bool, inputs_changed: bool, published_status: str, expected: str
) -> None:
    reason = restatements.republish_reason(
        backfilled=backfilled, inputs_changed=inputs_changed, published_status=published_status
    )
    assert reason == expected


def test_the_reasons_are_the_shared_codes() -> None:
    assert {codes.BACKFILL_REASON, codes.LATE_DATA, codes.CORRECTION} == {
        "backfill",
        "late_data",
        "correction",
    }


def test_empty_has_the_registry_columns_and_partitions() -> None:
    table = restatements.empty()
    assert table.num_rows == 0
    assert table.schema == schemas.RESTATEMENTS.arrow_schema(with_partitions=True)
    assert "month" in table.schema.names
