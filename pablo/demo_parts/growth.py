"""The growth part of the demo: the missing lifecycle steps found (against truth.json), the
quarantined account events by reason, the last closed month's MRR bridge with NRR, GRR and
logo churn, and the latest closed week's statuses.

The account event files land through the demo's delivery plan and the weekly workflow runs
on its schedule (Sunday 23:00 UTC); this part does nothing per step. At the end it starts the
workflow once more, as the run book's re-run of a week, at the replay's last instant: events
recorded after the last Sunday run (up to 3 days late) then reach the month they belong to,
so the closed months can be compared with truth.json. Then it reads the curated tables.
"""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow.parquet as pq

from functions.core import schemas
from functions.core.transform import growth
from pablo.local.control import ControlClient

FINAL_RUN_TIMEOUT_SECONDS: Final = 300
MOVEMENTS: Final = (
    ("new", "mrr_new_cents", "+"),
    ("expansion", "mrr_expansion_cents", "+"),
    ("reactivation", "mrr_reactivation_cents", "+"),
    ("contraction", "mrr_contraction_cents", "-"),
    ("churn", "mrr_churn_cents", "-"),
)


@dataclass
class GrowthDemo:
    name: str = "growth"
    run: Any = None
    errors: list[str] = field(default_factory=list)

    def start(self, run: Any) -> None:
        self.run = run

    def on_step(self, cursor: datetime) -> None:
        """Nothing per step: the weekly schedule does the work."""

    def finish(self) -> dict[str, Any]:
        now = ControlClient(self.run.endpoint).now()
        runs = self._scheduled_runs()
        final = self._final_run(now)
        return {
            "scheduled_runs": runs,
            "final_run": final,
            "missing_steps": self._missing_steps(),
            "quarantined": self._quarantined(),
            "month": self._last_closed_month(now),
            "week": self._last_closed_week(now),
            "errors": self.errors,
        }

    def lines(self, section: dict[str, Any]) -> list[str]:
        out = [_runs_line(section["scheduled_runs"], section["final_run"])]
        steps = section["missing_steps"]
        found = f"missing lifecycle steps: {len(steps['found'])} found"
        if steps["match"] is not None:  # only a truth.json gives something to compare with
            found += (
                f", {len(steps['expected'])} in truth.json, "
                f"{'match' if steps['match'] else 'DIFFER'}"
            )
        out.append(found)
        out += [
            f"  {f['account_id']}: {f['to_event_type']} without {f['missing_step']} "
            f"(status inferred: {f['inferred_status']})"
            for f in steps["found"]
        ]
        reasons = section["quarantined"]
        listed = ", ".join(f"{r} {n}" for r, n in reasons.items()) or "none"
        out.append(f"quarantined account events by reason: {listed}")
        out += _month_lines(section["month"])
        week = section["week"]
        if week:
            statuses = ", ".join(f"{s} {n}" for s, n in week["statuses"].items())
            out.append(
                f"status snapshot, week ending {week['week']}: {statuses} "
                f"({week['inferred_or_unknown']} inferred or unknown)"
            )
        out += [f"error: {e}" for e in section["errors"]]
        return out

    # --- the workflow --------------------------------------------------------------

    def _scheduled_runs(self) -> dict[str, int]:
        sfn = self.run.client("stepfunctions")
        arn = self.run.outputs["GrowthWeeklyStateMachineArn"]
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        return dict(Counter(str(e["status"]) for e in executions))

    def _final_run(self, now: datetime) -> dict[str, Any]:
        sfn = self.run.client("stepfunctions")
        moment = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        started = sfn.start_execution(
            stateMachineArn=self.run.outputs["GrowthWeeklyStateMachineArn"],
            name=f"growth-weekly-demo-final-{now:%Y%m%dT%H%M%S}",
            input=json.dumps({"time": moment}),
        )
        deadline = time.monotonic() + FINAL_RUN_TIMEOUT_SECONDS
        status = "RUNNING"
        while time.monotonic() < deadline:
            status = str(sfn.describe_execution(executionArn=started["executionArn"])["status"])
            if status != "RUNNING":
                break
            time.sleep(0.5)
        if status != "SUCCEEDED":
            self.errors.append(f"the final growth run ended {status}")
        return {"time": moment, "status": status}

    # --- the tables ----------------------------------------------------------------

    def _rows(self, bucket_output: str, prefix: str) -> list[dict[str, Any]]:
        s3 = self.run.client("s3")
        bucket = self.run.outputs[bucket_output]
        rows: list[dict[str, Any]] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".parquet"):
                    body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    rows += pq.read_table(io.BytesIO(body)).to_pylist()
        return rows

    def _missing_steps(self) -> dict[str, Any]:
        issues = self._rows("CuratedBucketName", schemas.LIFECYCLE_ISSUES.prefix + "/")
        found = sorted(
            (
                {
                    "account_id": r["account_id"],
                    "from_event_id": r["from_event_id"],
                    "to_event_id": r["to_event_id"],
                    "to_event_type": r["to_event_type"],
                    "missing_step": r["missing_step"],
                    "inferred_status": r["inferred_status"],
                }
                for r in issues
            ),
            key=lambda f: (f["account_id"], f["to_event_id"], f["missing_step"]),
        )
        truth = self.run.truth.get("faults", {}).get("lifecycle_missing_steps", [])
        expected = sorted(
            (f["account_id"], f["from_event_id"], f["to_event_id"], f["missing_step"])
            for f in truth
        )
        pairs = sorted(
            (f["account_id"], f["from_event_id"], f["to_event_id"], f["missing_step"])
            for f in found
        )
        if not self.run.truth:
            return {"found": found, "expected": None, "match": None}
        return {
            "found": found,
            "expected": [list(e) for e in expected],
            "match": pairs == expected,
        }

    def _quarantined(self) -> dict[str, int]:
        """Distinct quarantined records by reason (the weekly run re-quarantines an unknown
        account's events each week it is still unknown: counted once)."""
        prefix = f"{schemas.QUARANTINE.prefix}/pipeline={schemas.Pipeline.GROWTH.value}/"
        reasons = {r["record_id"]: r["reason"] for r in self._rows("QuarantineBucketName", prefix)}
        return dict(sorted(Counter(reasons.values()).items()))

    def _last_closed_month(self, now: datetime) -> dict[str, Any] | None:
        (month,) = growth.closed_months(now, count=1)
        prefix = f"{schemas.GROWTH_MONTHLY.prefix}/month={month}/"
        rows = self._rows("CuratedBucketName", prefix)
        if not rows:
            return None
        truth = self.run.truth.get("growth", {}).get(month, {})
        return {
            "month": month,
            **rows[0],
            "truth_mrr_cents": truth.get("mrr_cents"),
            "truth_paying_accounts": truth.get("paying_accounts"),
        }

    def _last_closed_week(self, now: datetime) -> dict[str, Any] | None:
        (week,) = growth.closed_weeks(now, count=1)
        prefix = f"{schemas.ACCOUNT_STATUS_WEEKLY.prefix}/week={week.isoformat()}/"
        rows = self._rows("CuratedBucketName", prefix)
        if not rows:
            return None
        statuses = Counter(str(r["status"]) for r in rows)
        flagged = sum(1 for r in rows if r["status_inferred"] or r["status"] == "unknown")
        return {
            "week": week.isoformat(),
            "statuses": dict(sorted(statuses.items())),
            "inferred_or_unknown": flagged,
        }


def _runs_line(runs: dict[str, int], final: dict[str, Any]) -> str:
    counted = ", ".join(f"{n} {s.lower()}" for s, n in sorted(runs.items())) or "none"
    return (
        f"weekly workflow: scheduled runs {counted}; re-run at the end of the replay "
        f"({final['time']}): {final['status'].lower()}"
    )


def _month_lines(month: dict[str, Any] | None) -> list[str]:
    if month is None:
        return ["no closed month computed yet"]
    moves = ", ".join(
        f"{sign}{label} {_dollars(month[column])}" for label, column, sign in MOVEMENTS
    )
    truth = month["truth_mrr_cents"]
    check = ""
    if truth is not None:
        verdict = "match" if truth == month["mrr_end_cents"] else "DIFFER"
        check = f" (truth.json: {_dollars(truth)}, {verdict})"
    return [
        f"MRR {month['month']}: start {_dollars(month['mrr_start_cents'])}, {moves}, "
        f"end {_dollars(month['mrr_end_cents'])}{check}",
        f"  accounts: {month['accounts_start']} paying at start, {month['accounts_end']} at end; "
        f"new {month['new_accounts']}, churned {month['churned_accounts']}, renewed "
        f"{month['renewed_accounts']}, reactivated {month['reactivated_accounts']}; seats "
        f"+{month['seats_added']} -{month['seats_removed']}; renewal expansion "
        f"{_dollars(month['renewal_expansion_cents'])}",
        f"  NRR {_percent(month['nrr'], month['nrr_reason'])}, GRR "
        f"{_percent(month['grr'], month['grr_reason'])}, logo churn "
        f"{_percent(month['logo_churn_rate'], month['logo_churn_rate_reason'])}",
    ]


def _dollars(cents: int | None) -> str:
    return "n/a" if cents is None else f"${cents / 100:,.2f}"


def _percent(value: float | None, reason: str | None) -> str:
    return f"n/a ({reason})" if value is None else f"{100 * value:.1f}%"
