"""Rows of the quarantine table for the lines of a landed file that break its contract (pure).

Nothing is dropped: a rejected line keeps its exact bytes, where it was and why (a reason
code of `functions.core.codes`), and lands in `quarantine` under its pipeline and the day it
was received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from functions.core import schemas


@dataclass(frozen=True)
class Rejection:
    """One quarantined line: where it was, its bytes, why. A rejection found after landing
    (a row already in a raw table) names its own file and id instead of a line."""

    line: int | None
    raw: bytes
    reason: str
    detail: str
    source_key: str | None = None  # None: the file's key given to quarantine_table
    record_id: str | None = None  # None: "<source key>:<line>"
    dt: str | None = None  # the `dt` partition; None: the day received (UTC)


def record_id(source_key: str, line: int) -> str:
    """Stable id of a file line (the same file re-sent gives the same ids)."""
    return f"{source_key}:{line}"


def quarantine_table(
    rejected: Sequence[Rejection],
    *,
    source: str,
    pipeline: str,
    source_key: str | None,
    received_at: datetime,
) -> pa.Table:
    """QUARANTINE rows of `rejected`, in the order given, with their partitions (`pipeline`,
    `dt`: the rejection's own, else the day received, UTC)."""
    now = received_at.astimezone(UTC)
    rows = []
    for r in rejected:
        key = r.source_key or source_key
        rows.append(
            {
                "record_id": r.record_id or record_id(key or source, r.line or 0),
                "source": source,
                "reason": r.reason,
                "detail": r.detail,
                "raw": r.raw,
                "received_at": now,
                "source_key": key,
                "line_number": r.line,
                "shard_id": None,
                "sequence_number": None,
                "pipeline": pipeline,
                "dt": r.dt or now.date().isoformat(),
            }
        )
    return pa.Table.from_pylist(rows, schema=schemas.QUARANTINE.arrow_schema(with_partitions=True))
