"""The restatements table: one row per published value a later run changed (pure).

Every pipeline that republishes a period (engagement days, executive KPIs) records what
changed here, with why (`codes.LATE_DATA`, `codes.BACKFILL_REASON`, `codes.CORRECTION`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from functions.core import schemas
from functions.core.codes import BACKFILL_REASON, CORRECTION, LATE_DATA, PRELIMINARY


def empty() -> pa.Table:
    """No restatements, with the table's columns and partitions."""
    return schemas.RESTATEMENTS.arrow_schema(with_partitions=True).empty_table()


def republish_reason(*, backfilled: bool, inputs_changed: bool, published_status: str) -> str:
    """Why a published period's values changed: `backfill` when the run backfilled an input;
    `late_data` when an input changed since the published row was built, or that row was
    preliminary (an input was stale, incomplete or unreconciled); else a `correction`."""
    if backfilled:
        return BACKFILL_REASON
    if inputs_changed or published_status == PRELIMINARY:
        return LATE_DATA
    return CORRECTION


def restatement_rows(
    old_table: pa.Table,
    new_table: pa.Table,
    *,
    key_cols: Sequence[str],
    metric_cols: Sequence[str],
    table_name: str,
    period: str,
    restated_at: datetime,
    run_id: str,
    reason: str = LATE_DATA,
    rel_tolerance: float = 1e-9,
) -> pa.Table:
    """RESTATEMENTS rows for every metric value that changed between two versions of a table.

    A key present in only one version restates each metric from/to null. Doubles are compared
    with `rel_tolerance` so a different summation order is not reported as a change.
    """
    old = _index(old_table, key_cols, metric_cols)
    new = _index(new_table, key_cols, metric_cols)
    rows: list[dict[str, Any]] = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, {}), new.get(key, {})
        for metric in metric_cols:
            was, now = _as_float(before.get(metric)), _as_float(after.get(metric))
            if _same(was, now, rel_tolerance):
                continue
            rows.append(
                {
                    "table_name": table_name,
                    "period": period,
                    "key": key,
                    "metric": metric,
                    "old_value": was,
                    "new_value": now,
                    "reason": reason,
                    "restated_at": restated_at.astimezone(UTC),
                    "run_id": run_id,
                    "month": restated_at.astimezone(UTC).strftime("%Y-%m"),
                }
            )
    schema = schemas.RESTATEMENTS.arrow_schema(with_partitions=True)
    return pa.Table.from_pylist(rows, schema=schema)


def without_unchanged(
    old_table: pa.Table,
    new_table: pa.Table,
    *,
    key_cols: Sequence[str],
    metric_cols: Sequence[str],
) -> tuple[pa.Table, pa.Table]:
    """Both versions without the rows whose key has, in the other version, one row with
    every metric value equal (or null in both): such a row restates nothing, and a rebuild
    that republishes months of rows changes few of them, so `restatement_rows` then compares
    only those that may have changed, value by value. Rows keep their order; with no key
    columns, or a key that is not unique, nothing is left out."""
    if not key_cols or old_table.num_rows == 0 or new_table.num_rows == 0:
        return old_table, new_table
    columns = [*key_cols, *metric_cols]
    old = old_table.select(columns).append_column(_OLD_ROW, _row_numbers(old_table))
    new = new_table.select(columns).append_column(_NEW_ROW, _row_numbers(new_table))
    pairs = old.join(
        new, keys=list(key_cols), join_type="inner", left_suffix=_OLD_ROW, right_suffix=_NEW_ROW
    )
    for side in (_OLD_ROW, _NEW_ROW):
        if pc.count_distinct(pairs.column(side)).as_py() != pairs.num_rows:
            return old_table, new_table  # a repeated key: restatement_rows refuses it
    same = pa.array([True] * pairs.num_rows, pa.bool_())
    for metric in metric_cols:
        was, now = pairs.column(metric + _OLD_ROW), pairs.column(metric + _NEW_ROW)
        equal = pc.or_kleene(pc.equal(was, now), pc.and_(pc.is_null(was), pc.is_null(now)))
        same = pc.and_(same, pc.fill_null(equal, False))
    unchanged = pairs.filter(same)
    return (
        _rows_except(old_table, unchanged.column(_OLD_ROW)),
        _rows_except(new_table, unchanged.column(_NEW_ROW)),
    )


_OLD_ROW: Final = "__old"
_NEW_ROW: Final = "__new"


def _row_numbers(table: pa.Table) -> pa.Array:
    return pa.array(range(table.num_rows), pa.int64())


def _rows_except(table: pa.Table, numbers: pa.ChunkedArray) -> pa.Table:
    return table.filter(pc.invert(pc.is_in(_row_numbers(table), value_set=numbers)))


def _index(
    table: pa.Table, key_cols: Sequence[str], metric_cols: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Rows by key ('|'-joined key values; 'total' for a table without keys)."""
    index: dict[str, dict[str, Any]] = {}
    for row in table.select([*key_cols, *metric_cols]).to_pylist():
        key = "|".join(str(row[k]) for k in key_cols) if key_cols else "total"
        if key in index:
            raise ValueError(f"key {key!r} appears twice; restatements need a unique key")
        index[key] = row
    return index


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _same(a: float | None, b: float | None, rel_tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel_tolerance, abs_tol=0.0)
