"""The profit part of the demo: the month with the injected ledger mismatch is flagged, its
alarm fires, an accountant signs it off, the alarm clears.

The finance files land through the demo's delivery plan and the monthly workflow runs on
its schedule (day 4, 06:00 UTC); this part only watches, one state-table read and one
DescribeAlarms per step once a month has been computed, and signs the flagged month off
on the step after its alarm fired (the way `pablo finance signoff` does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from functions.adapters import s3_tables, state_table
from functions.core import codes, schemas
from infra.config import resource_name
from pablo import finance
from pablo.local.control import ControlClient

ALARM_KEY: Final = "profit-reconciliation-mismatch"
SIGNED_OFF_BY: Final = "Dana Ortiz (demo accountant)"
SIGNOFF_NOTE: Final = (
    "ledger revenue control total verified against billing; ledger to be corrected"
)


@dataclass
class ProfitDemo:
    name: str = "profit"
    run: Any = None
    mismatch_month: str | None = None
    flagged_at: str | None = None
    alarm_fired_at: str | None = None
    signed_off_at: str | None = None
    alarm_cleared_at: str | None = None
    signoff: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def start(self, run: Any) -> None:
        self.run = run
        faults = run.truth.get("faults", {}).get("ledger_mismatch") or []
        self.mismatch_month = faults[0]["month"] if faults else None

    def on_step(self, cursor: datetime) -> None:
        month = self.mismatch_month
        if month is None or self.alarm_cleared_at is not None:
            return
        if self.flagged_at is None:
            record = self._record(month)
            if record is None or record.get("publication_status") != codes.PRELIMINARY:
                return
            self.flagged_at = cursor.isoformat()
        state = self._alarm_state()
        if self.alarm_fired_at is None:
            if state == "ALARM":
                self.alarm_fired_at = cursor.isoformat()
            return
        if self.signed_off_at is None:
            self._sign_off(month)
        elif state == "OK":
            self.alarm_cleared_at = cursor.isoformat()

    def finish(self) -> dict[str, Any]:
        outputs = self.run.outputs
        s3, dynamodb = self.run.client("s3"), self.run.client("dynamodb")
        rows = s3_tables.read_table(
            s3, bucket=outputs["CuratedBucketName"], table=schemas.PROFIT_MONTHLY
        ).to_pylist()
        months: dict[str, Any] = {}
        for row in sorted(rows, key=lambda r: r["month"]):
            record = state_table.month_record(
                dynamodb, table=outputs["StateTableName"], month=row["month"]
            )
            months[row["month"]] = {
                **{k: v for k, v in row.items() if k != "month"},
                "reconciliation": _parsed(record.get("reconciliation") if record else None),
            }
        invoices = self.run.truth.get("totals", {}).get("invoices", {})
        return {
            "months": months,
            "truth": {
                "revenue_cents_by_month": invoices.get("revenue_cents_by_month", {}),
                "paying_subscribers_by_month": invoices.get("paying_subscribers_by_month", {}),
            },
            "mismatch_month": self.mismatch_month,
            "flagged_at": self.flagged_at,
            "alarm_fired_at": self.alarm_fired_at,
            "signed_off_at": self.signed_off_at,
            "alarm_cleared_at": self.alarm_cleared_at,
            "signoff": self.signoff,
            "errors": self.errors,
        }

    def lines(self, section: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for month, row in section["months"].items():
            unit = row["unit_profit_cents"]
            unit_text = (
                _dollars(unit) if unit is not None else f"n/a ({row['unit_profit_cents_reason']})"
            )
            out.append(
                f"{month}: revenue {_dollars(row['revenue_cents'])}, expenses "
                f"{_dollars(row['expenses_cents'])}, salaries {_dollars(row['salaries_cents'])}, "
                f"profit {_dollars(row['profit_cents'])}, {row['paying_subscribers']} paying, "
                f"unit profit {unit_text} [{row['publication_status']}]"
            )
            out.append(f"  vs truth.json: {_truth_check(section.get('truth') or {}, month, row)}")
            lines = (row.get("reconciliation") or {}).get("lines", {})
            off = [
                f"{line} {detail['status']} by {_dollars(detail['difference_cents'])}"
                if detail["difference_cents"] is not None
                else f"{line} {detail['status']}"
                for line, detail in lines.items()
                if detail["status"] != codes.MATCHED
            ]
            out.append(f"  reconciliation: {'; '.join(off) if off else 'matched to the cent'}")
        if section["mismatch_month"]:
            out.append(
                f"ledger mismatch {section['mismatch_month']}: flagged {section['flagged_at']}, "
                f"alarm {section['alarm_fired_at']}, signed off {section['signed_off_at']} "
                f"by {section['signoff'].get('by')}, alarm cleared {section['alarm_cleared_at']}"
            )
        out += [f"error: {e}" for e in section["errors"]]
        return out

    # --- helpers -------------------------------------------------------------------

    def _record(self, month: str) -> dict[str, Any] | None:
        return state_table.month_record(
            self.run.client("dynamodb"), table=self.run.outputs["StateTableName"], month=month
        )

    def _alarm_state(self) -> str | None:
        name = resource_name(self.run.outputs["NamePrefix"], ALARM_KEY)
        alarms = self.run.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return str(alarms[0]["StateValue"]) if alarms else None

    def _sign_off(self, month: str) -> None:
        now = ControlClient(self.run.endpoint).now()
        try:
            result = finance.signoff(
                month=month, by=SIGNED_OFF_BY, note=SIGNOFF_NOTE, clients=self.run, now=now
            )
        except finance.SignoffError as exc:
            self.errors.append(str(exc))
            self.alarm_cleared_at = "never (sign-off failed)"
            return
        self.signoff = result["signoff"]
        self.signed_off_at = now.isoformat()


def _truth_check(truth: dict[str, Any], month: str, row: dict[str, Any]) -> str:
    """Revenue and paying subscribers of the month against truth.json."""
    checks = [
        ("revenue", row["revenue_cents"], truth.get("revenue_cents_by_month", {}).get(month, 0)),
        (
            "paying subscribers",
            row["paying_subscribers"],
            truth.get("paying_subscribers_by_month", {}).get(month, 0),
        ),
    ]
    return ", ".join(
        f"{name} {got} ({'match' if got == want else f'DIFFER: truth {want}'})"
        for name, got, want in checks
    )


def _parsed(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _dollars(cents: float | int | None) -> str:
    if cents is None:
        return "n/a"
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"
