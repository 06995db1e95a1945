"""The executive part of the demo: the monthly and weekly executive runs that the schedules
started during the replay (the starter names them `monthly-YYYY-MM`, `weekly-<Sunday>`),
the last month's KPIs in the summary, and its report downloaded next to the lake.

Nothing runs per step: the schedules do the work on the emulator clock. `finish` reads the
KPI table once and downloads the latest monthly and weekly reports into
`<out>/reports/`, so the report opens from the path printed at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from functions.adapters import s3_tables
from functions.core import schemas
from functions.core.report import executive_layout
from functions.core.report.executive_period import parse_period
from pablo.run import MACHINE_OUTPUTS

HEADLINE: Final = (
    ("mrr_cents", "MRR", "money"),
    ("arr_cents", "ARR", "money"),
    ("net_new_mrr_cents", "net new MRR", "money"),
    ("nrr", "NRR", "percent"),
    ("grr", "GRR", "percent"),
    ("active_accounts", "active accounts", "count"),
    ("new_accounts", "new", "count"),
    ("churned_accounts", "churned", "count"),
    ("logo_churn_rate", "logo churn", "percent"),
    ("dau", "DAU", "decimal"),
    ("wau", "WAU", "count"),
    ("mau", "MAU", "count"),
    ("hours_per_active_user_day", "hours/active user/day", "decimal"),
    ("seat_utilisation", "seat utilisation", "percent"),
    ("revenue_cents", "revenue", "money"),
    ("expenses_cents", "expenses", "money"),
    ("profit_cents", "profit", "money"),
    ("unit_profit_cents", "profit per paying account", "money"),
    ("cost_per_account_cents", "cost per paying account", "money"),
)


@dataclass
class ExecutiveDemo:
    name: str = "executive"
    run: Any = None
    errors: list[str] = field(default_factory=list)

    def start(self, run: Any) -> None:
        self.run = run

    def on_step(self, cursor: datetime) -> None:
        """The schedules start the runs; nothing to do per step."""

    def finish(self) -> dict[str, Any]:
        outputs = self.run.outputs
        s3 = self.run.client("s3")
        kpis = s3_tables.read_table(
            s3, bucket=outputs["CuratedBucketName"], table=schemas.EXEC_KPI
        ).to_pylist()
        latest = {
            grain: max(
                (r for r in kpis if r["grain"] == grain), key=lambda r: r["period"], default=None
            )
            for grain in ("month", "week")
        }
        reports = {
            grain: self._download(row["grain"], row["period"])
            for grain, row in latest.items()
            if row is not None
        }
        return {
            "executions": self._executions(),
            "periods_published": {
                g: sorted(r["period"] for r in kpis if r["grain"] == g) for g in ("month", "week")
            },
            "month": _section(latest["month"]),
            "week": _section(latest["week"]),
            "reports": reports,
            "errors": self.errors,
        }

    def lines(self, section: dict[str, Any]) -> list[str]:
        out = [
            f"executive runs: {section['executions']}",
            "published: months "
            + (", ".join(section["periods_published"]["month"]) or "none")
            + f"; {len(section['periods_published']['week'])} weeks",
        ]
        for grain in ("month", "week"):
            kpis = section[grain]
            if kpis is None:
                out.append(f"no {grain} published (the window ends before its schedule)")
                continue
            out.append(f"{grain} {kpis['period']} [{kpis['publication_status']}]:")
            out += [f"  {label}: {text}" for label, text in kpis["figures"]]
            report = section["reports"].get(grain)
            if report:
                out.append(f"  report: {report}")
        out += [f"error: {e}" for e in section["errors"]]
        return out

    # --- helpers -------------------------------------------------------------------

    def _download(self, grain: str, period: str) -> str | None:
        outputs = self.run.outputs
        key = executive_layout.report_key(parse_period(grain, period))
        target = Path(self.run.out_dir) / "reports" / f"executive-{grain}-{period}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.run.client("s3").download_file(outputs["ReportsBucketName"], key, str(target))
        except Exception as exc:  # botocore's ClientError: the report step did not finish
            self.errors.append(f"report {key}: {exc}")
            return None
        return str(target.resolve())

    def _executions(self) -> dict[str, dict[str, int]]:
        sfn = self.run.client("stepfunctions")
        found: dict[str, dict[str, int]] = {}
        for grain, output in MACHINE_OUTPUTS.items():
            counts: dict[str, int] = {}
            pages = sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.run.outputs[output]
            )
            for page in pages:
                for execution in page["executions"]:
                    counts[execution["status"]] = counts.get(execution["status"], 0) + 1
            found[grain] = counts
        return found


def _section(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    reasons = dict(row["missing_reasons"])
    figures = [
        (
            label,
            _format(row[column], kind)
            if row[column] is not None
            else f"n/a ({reasons.get(column, 'no reason')})",
        )
        for column, label, kind in HEADLINE
    ]
    return {
        "period": row["period"],
        "publication_status": row["publication_status"],
        "figures": figures,
        "missing_reasons": reasons,
    }


def _format(value: float, kind: str) -> str:
    if kind == "money":
        sign = "-" if value < 0 else ""
        return f"{sign}${abs(value) / 100:,.2f}"
    if kind == "percent":
        return f"{value * 100:.1f}%"
    if kind == "decimal":
        return f"{value:,.2f}"
    return f"{int(value):,}"
