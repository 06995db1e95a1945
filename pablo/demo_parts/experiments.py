"""The experiments part of the demo: each weekly run's sample ratio checks, the experiment
with the injected mismatch flagged (and its alarm to the Data Science owner), the units
assigned to two variants.

Definitions and assignments land through the demo's delivery plan and the weekly workflow
runs on its schedule (daily 06:00 UTC, the latest closed week); this part only watches: on
a Monday step (a new week closed) it lists
the week's health partition (one ListObjects) until it is there, then reads it (one small
file) and the alarm state (one DescribeAlarms). Everything else is read once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from functions.adapters import s3_tables
from functions.core import schemas
from functions.core.transform import experiments
from infra.config import resource_name

ALARM_KEY: Final = "experiment-sample-ratio-mismatch"
RUN_HOUR: Final = 6  # the weekly schedule: Monday 06:00 UTC


@dataclass
class ExperimentsDemo:
    name: str = "experiments"
    run: Any = None
    weeks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    alarm_fired_at: str | None = None
    errors: list[str] = field(default_factory=list)

    def start(self, run: Any) -> None:
        self.run = run

    def on_step(self, cursor: datetime) -> None:
        if cursor.weekday() == 0 and cursor.hour >= RUN_HOUR:  # the weekly run is done
            week = experiments.last_closed_week(cursor).isoformat()
            if week not in self.weeks:
                rows = self._health(week)
                if rows is not None:
                    self.weeks[week] = rows
        flagged = any(r["srm_flag"] for rows in self.weeks.values() for r in rows)
        if flagged and self.alarm_fired_at is None and self._alarm_state() == "ALARM":
            self.alarm_fired_at = cursor.isoformat()

    def finish(self) -> dict[str, Any]:
        outputs = self.run.outputs
        s3 = self.run.client("s3")
        assignments = s3_tables.read_table(
            s3, bucket=outputs["CuratedBucketName"], table=schemas.EXPERIMENT_ASSIGNMENTS
        ).to_pylist()
        multiple: dict[str, list[str]] = {}
        for row in assignments:
            if row["multiple_variants"]:
                multiple.setdefault(row["experiment_id"], []).append(row["unit_id"])
        truth = self.run.truth.get("experiments", [])
        latest = max(self.weeks) if self.weeks else None
        flagged = sorted(
            r["experiment_id"] for r in self.weeks.get(latest or "", []) if r["srm_flag"]
        )
        injected = sorted(t["experiment_id"] for t in truth if t.get("srm_injected"))
        expected_multiple = {
            t["experiment_id"]: sorted(u["unit_id"] for u in t["multiple_variant_units"])
            for t in truth
            if t["multiple_variant_units"]
        }
        return {
            "weeks": self.weeks,
            "latest_week": latest,
            "srm_flagged": flagged,
            "srm_injected": injected,
            "has_truth": bool(self.run.truth),
            "flagged_as_injected": flagged == injected if self.run.truth else None,
            "multiple_variant_units": {k: sorted(v) for k, v in sorted(multiple.items())},
            "multiple_variants_as_injected": (
                {k: sorted(v) for k, v in multiple.items()} == expected_multiple
                if self.run.truth
                else None
            ),
            "alarm_fired_at": self.alarm_fired_at,
            "alarm_state": self._alarm_state(),
            "errors": self.errors,
        }

    def lines(self, section: dict[str, Any]) -> list[str]:
        latest = section["latest_week"]
        if latest is None:
            return ["no weekly run yet (the workflow runs Mondays 06:00 UTC)"]
        out = [f"week ending {latest} ({len(section['weeks'])} weekly runs):"]
        for row in section["weeks"][latest]:
            observed = " / ".join(f"{v} {n}" for v, n in row["observed_split"])
            planned = " / ".join(f"{float(w):.0%}" for _, w in row["planned_split"])
            p_value = "n/a" if row["p_value"] is None else f"{row['p_value']:.3g}"
            verdict = "SRM FLAGGED" if row["srm_flag"] else "ok"
            out.append(
                f"  {row['experiment_id']}: {row['units']} units ({observed}; planned "
                f"{planned}), p = {p_value} -> {verdict}; {row['units_no_data']} without data"
            )
        for experiment_id, units in section["multiple_variant_units"].items():
            out.append(f"  two variants, excluded: {experiment_id}: {', '.join(units)}")
        injected = (
            f" (injected: {', '.join(section['srm_injected']) or 'none'})"
            if section.get("has_truth", True)
            else ""
        )
        out.append(
            f"SRM flagged {', '.join(section['srm_flagged']) or 'none'}{injected}; alarm to "
            f"Data Science {section['alarm_fired_at'] or 'not fired'}, now "
            f"{section['alarm_state']}"
        )
        out += [f"error: {e}" for e in section["errors"]]
        return out

    # --- helpers -------------------------------------------------------------------

    def _health(self, week: str) -> list[dict[str, Any]] | None:
        bucket = self.run.outputs["CuratedBucketName"]
        table = schemas.EXPERIMENT_HEALTH_WEEKLY
        s3 = self.run.client("s3")
        prefix = f"{table.prefix}/week={week}/"
        if not s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount"):
            return None
        rows = s3_tables.read_table(
            s3, bucket=bucket, table=table, partition_filter={"week": week}
        ).to_pylist()
        return [{k: v for k, v in r.items() if k != "week"} for r in rows]

    def _alarm_state(self) -> str | None:
        name = resource_name(self.run.outputs["NamePrefix"], ALARM_KEY)
        alarms = self.run.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return str(alarms[0]["StateValue"]) if alarms else None
