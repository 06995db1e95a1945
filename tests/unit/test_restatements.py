"""The restatements table: why a republished period changed, and its empty form."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
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


def _versions() -> tuple[pa.Table, pa.Table]:
    schema = pa.schema(
        [
            ("dt", pa.string()),
            ("unit_id", pa.string()),
            ("clicks", pa.int64()),
            ("seats", pa.int64()),
            ("hours", pa.float64()),
        ]
    )
    old = pa.Table.from_pylist(
        [
            {"dt": "d1", "unit_id": "a", "clicks": 5, "seats": None, "hours": 1.0},  # same
            {"dt": "d1", "unit_id": "b", "clicks": 2, "seats": 3, "hours": 0.5},  # clicks 2->4
            {"dt": "d2", "unit_id": "a", "clicks": 1, "seats": 3, "hours": 0.25},  # gone
            {"dt": "d2", "unit_id": "b", "clicks": 0, "seats": 3, "hours": math.nan},  # NaN
            {"dt": "d2", "unit_id": "c", "clicks": 9, "seats": None, "hours": 2.0},  # seats set
        ],
        schema=schema,
    )
    new = pa.Table.from_pylist(
        [
            {"dt": "d2", "unit_id": "c", "clicks": 9, "seats": 4, "hours": 2.0},
            {"dt": "d2", "unit_id": "b", "clicks": 0, "seats": 3, "hours": math.nan},
            {"dt": "d1", "unit_id": "b", "clicks": 4, "seats": 3, "hours": 0.5},
            {"dt": "d1", "unit_id": "a", "clicks": 5, "seats": None, "hours": 1.0},
            {"dt": "d3", "unit_id": "a", "clicks": 1, "seats": None, "hours": 0.0},  # new
        ],
        schema=schema,
    )
    return old, new


def test_without_unchanged_leaves_out_only_rows_equal_in_both_versions() -> None:
    # Given two versions where only (d1, a) is equal in every value, nulls included
    old, new = _versions()

    # When the unchanged rows are left out
    old_left, new_left = restatements.without_unchanged(
        old, new, key_cols=["dt", "unit_id"], metric_cols=["clicks", "seats", "hours"]
    )

    # Then (d1, a) is gone from both, a NaN (never equal) stays, and the order is kept
    assert old_left.column("unit_id").to_pylist() == ["b", "a", "b", "c"]
    assert old_left.column("dt").to_pylist() == ["d1", "d2", "d2", "d2"]
    new_keys = zip(new_left["dt"].to_pylist(), new_left["unit_id"].to_pylist(), strict=True)
    assert list(new_keys) == [
        ("d2", "c"),
        ("d2", "b"),
        ("d1", "b"),
        ("d3", "a"),
    ]


@pytest.mark.parametrize("day", ["d1", "d2", "d3"])
def test_restatements_of_the_changed_rows_are_those_of_every_row(day: str) -> None:
    # Given two versions of a day, and the same without their unchanged rows
    old, new = _versions()
    old_left, new_left = restatements.without_unchanged(
        old, new, key_cols=["dt", "unit_id"], metric_cols=["clicks", "seats", "hours"]
    )

    # When each day is restated from both
    def restated(before: pa.Table, after: pa.Table) -> list[tuple[str, str, Any, Any]]:
        rows = restatements.restatement_rows(
            before.filter(pc.equal(before.column("dt"), day)),
            after.filter(pc.equal(after.column("dt"), day)),
            key_cols=["unit_id"],
            metric_cols=["clicks", "seats", "hours"],
            table_name="t",
            period=day,
            restated_at=datetime(2026, 9, 30, tzinfo=UTC),
            run_id="run-1",
        ).to_pylist()
        return [(r["key"], r["metric"], r["old_value"], r["new_value"]) for r in rows]

    # Then the restatements are the same: d1 b's clicks, d2 a gone and c's seats, d3 a new
    expected = {
        "d1": [("b", "clicks", 2.0, 4.0)],
        "d2": [
            ("a", "clicks", 1.0, None),
            ("a", "seats", 3.0, None),
            ("a", "hours", 0.25, None),
            ("c", "seats", None, 4.0),
        ],
        "d3": [("a", "clicks", None, 1.0), ("a", "hours", None, 0.0)],
    }
    assert restated(old_left, new_left) == restated(old, new) == expected[day]


def test_without_unchanged_keeps_everything_when_a_key_repeats() -> None:
    # Given an old version where (d1, a) appears twice
    old, new = _versions()
    doubled = pa.concat_tables([old, old.slice(0, 1)])

    # When the unchanged rows are left out
    old_left, new_left = restatements.without_unchanged(
        doubled, new, key_cols=["dt", "unit_id"], metric_cols=["clicks", "seats", "hours"]
    )

    # Then nothing is: restatement_rows is the one to refuse the repeated key
    assert old_left.num_rows == doubled.num_rows and new_left.num_rows == new.num_rows
