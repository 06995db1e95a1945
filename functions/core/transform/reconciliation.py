"""Reconcile a month's computed totals with the ledger's control totals (pure).

Each ledger line (revenue, expenses, salaries) is `matched` when |computed - ledger| is
within the tolerance, `mismatched` otherwise, and `missing_ledger` when the books sent no
total for it. A month is published `final` only when every line matched; otherwise it is
`preliminary` until an accountant signs it off (`signed_off`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from functions.core import schemas
from functions.core.codes import FINAL, MATCHED, MISMATCHED, MISSING_LEDGER, PRELIMINARY, SIGNED_OFF
from functions.core.transform.profit import MonthTotals


@dataclass(frozen=True)
class LineResult:
    line: str
    computed_cents: int
    ledger_cents: int | None
    tolerance_cents: int

    @property
    def difference_cents(self) -> int | None:
        return None if self.ledger_cents is None else self.computed_cents - self.ledger_cents

    @property
    def status(self) -> str:
        if self.difference_cents is None:
            return MISSING_LEDGER
        return MATCHED if abs(self.difference_cents) <= self.tolerance_cents else MISMATCHED


@dataclass(frozen=True)
class Reconciliation:
    month: str
    lines: tuple[LineResult, ...]

    @property
    def matched(self) -> bool:
        return all(r.status == MATCHED for r in self.lines)

    @property
    def unreconciled_lines(self) -> list[LineResult]:
        return [r for r in self.lines if r.status != MATCHED]

    def publication_status(self, *, signed_off: bool) -> str:
        if signed_off:
            return SIGNED_OFF
        return FINAL if self.matched else PRELIMINARY

    def table(self) -> pa.Table:
        rows = [
            {
                "line": r.line,
                "computed_cents": r.computed_cents,
                "ledger_cents": r.ledger_cents,
                "difference_cents": r.difference_cents,
                "tolerance_cents": r.tolerance_cents,
                "status": r.status,
                "month": self.month,
            }
            for r in self.lines
        ]
        return pa.Table.from_pylist(
            rows, schema=schemas.RECONCILIATION.arrow_schema(with_partitions=True)
        )

    def summary(self) -> dict[str, object]:
        """JSON-able: what the workflow, the alarm detail and the sign-off show."""
        return {
            "month": self.month,
            "matched": self.matched,
            "lines": {
                r.line: {
                    "status": r.status,
                    "computed_cents": r.computed_cents,
                    "ledger_cents": r.ledger_cents,
                    "difference_cents": r.difference_cents,
                    "tolerance_cents": r.tolerance_cents,
                }
                for r in self.lines
            },
        }


def ledger_totals(ledger: pa.Table, month: str) -> dict[str, int]:
    """The month's control total per line from raw_ledger rows (one row per line)."""
    totals: dict[str, int] = {}
    for row in ledger.to_pylist():
        if row["month"] == month:
            totals[row["line"]] = totals.get(row["line"], 0) + int(row["amount_cents"])
    return totals


def reconcile(
    month: str, totals: MonthTotals, ledger: Mapping[str, int], *, tolerance_cents: int
) -> Reconciliation:
    if tolerance_cents < 0:
        raise ValueError("tolerance_cents must not be negative")
    return Reconciliation(
        month=month,
        lines=tuple(
            LineResult(
                line=line,
                computed_cents=totals.line(line),
                ledger_cents=ledger.get(line),
                tolerance_cents=tolerance_cents,
            )
            for line in schemas.LEDGER_LINES
        ),
    )
