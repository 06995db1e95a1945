"""Test support (no tests here): a lake snapshot laid out like `pablo demo --out`'s, from a
small generated company pushed through the pipelines' pure cores (engagement, growth,
profit), for the query tests.

The experiment tables come from a small stand-in here (their pipeline is written
separately): assignments with the multiple-variant flag, unit-days from the engagement
tables, and weekly SRM health with the generator's own chi-square.
"""

from __future__ import annotations

import base64
import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions.core import restatements, schemas
from functions.core.ingest import account_events
from functions.core.ingest import finance_inputs as fi
from functions.core.ingest.clicks import decode_batch
from functions.core.transform import engagement, growth, profit
from pablo.generate.experiments import SRM_P_THRESHOLD, chi_square_p_value
from pablo.generate.model import GeneratorConfig

CONFIG = GeneratorConfig(seed=5, accounts=8, days=35)
NOW = CONFIG.window_end + timedelta(days=2)
FINANCE_SOURCES = ("invoices", "expenses", "salaries")


@dataclass
class Lake:
    """The snapshot directory (laid out as `<out>/lake/<table>/<k>=<v>/*.parquet`)."""

    out: Path
    tables: dict[str, pa.Table]

    @property
    def root(self) -> Path:
        return self.out / "lake"


def build_tables(company: Path, work: Path) -> dict[str, pa.Table]:
    work.mkdir(parents=True)
    raw_events = _raw_account_events(company)
    tables = _engagement(company, work, raw_events)
    tables.update(_growth(raw_events))
    tables.update(_profit(company))
    tables.update(_experiments(company, tables))
    return tables


def write_table(lake: Path, registry: schemas.Table, table: pa.Table) -> None:
    """Hive partitions as the pipelines write them (partition columns only in the path)."""
    if table.num_rows == 0:
        return
    conformed = table.select(registry.arrow_schema(with_partitions=True).names).cast(
        registry.arrow_schema(with_partitions=True)
    )
    pq.write_to_dataset(
        conformed,
        lake / registry.name,
        partition_cols=registry.partition_names or None,
        basename_template="part-{i}.parquet",
    )


# --- engagement ------------------------------------------------------------------------


def _kinesis_record(line: dict[str, Any], position: int) -> dict[str, Any]:
    record = line["record"]
    data = (
        json.dumps(record, separators=(",", ":")).encode()
        if isinstance(record, dict)
        else str(record).encode("utf-8", "surrogatepass")
    )
    sequence = f"{position:020d}"
    return {
        "kinesis": {
            "data": base64.b64encode(data).decode(),
            "sequenceNumber": sequence,
            "approximateArrivalTimestamp": line["send_at"] / 1000,
            "partitionKey": "p",
        },
        "eventID": f"shardId-000000000000:{sequence}",
    }


def _raw_clicks(company: Path) -> pa.Table:
    accepted = []
    position = 0
    for path in sorted((company / "clicks").glob("*.jsonl")):
        lines = [json.loads(text) for text in path.read_text().splitlines() if text.strip()]
        records = [_kinesis_record(line, position + i) for i, line in enumerate(lines)]
        position += len(records)
        arrival = max(line["send_at"] for line in lines) / 1000
        outcome = decode_batch(records, now=datetime.fromtimestamp(arrival, UTC))
        accepted.append(outcome.accepted)
    return pa.concat_tables(accepted)


def _engagement(company: Path, work: Path, raw_events: pa.Table) -> dict[str, pa.Table]:
    raw = _raw_clicks(company)
    days = [CONFIG.day(i) for i in range(CONFIG.days)]
    out: dict[str, list[pa.Table]] = defaultdict(list)
    for day in days:
        day_raw = raw.filter(pc.equal(raw.column("dt"), day.isoformat()))
        path = work / f"clicks-{day}.parquet"
        result = engagement.engagement_day(day_raw, day, clicks_path=str(path))
        clicks = pq.read_table(path)
        out["clicks"].append(clicks.append_column("dt", pa.array([day.isoformat()] * len(clicks))))
        out["dedup_daily"].append(result.dedup)
        out["engagement_user_daily"].append(result.user_daily)
        out["engagement_daily"].append(engagement.engagement_daily(result.user_daily, day))
        out["restatements"].append(_late_data_restatements(day_raw, day, work, result))
    user_daily = pa.concat_tables(out["engagement_user_daily"])
    seats = {day: engagement.seats_as_of(raw_events, day) for day in days}
    active = engagement.active_users_days(user_daily, seats)
    tables = {name: pa.concat_tables(parts) for name, parts in out.items()}
    tables["active_users_daily"] = pa.concat_tables(active[d] for d in days)
    tables["raw_clicks"] = raw
    tables["raw_account_events"] = raw_events
    return tables


def _late_data_restatements(
    day_raw: pa.Table, day: date, work: Path, final: engagement.DayResult
) -> pa.Table:
    """What the day looked like when first published (clicks landed by its end) vs now."""
    published_at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=20)
    on_time = day_raw.filter(
        pc.less(day_raw.column("arrival_time"), pa.scalar(published_at, pa.timestamp("ms", "UTC")))
    )
    first = engagement.engagement_day(on_time, day, clicks_path=str(work / f"first-{day}.parquet"))
    return restatements.restatement_rows(
        engagement.engagement_daily(first.user_daily, day),
        engagement.engagement_daily(final.user_daily, day),
        key_cols=["account_id"],
        metric_cols=["active_users", "sessions", "session_hours", "clicks"],
        table_name="engagement_daily",
        period=day.isoformat(),
        restated_at=NOW,
        run_id="late-data-test",
    )


# --- growth ----------------------------------------------------------------------------


def _raw_account_events(company: Path) -> pa.Table:
    tables = []
    for path in sorted((company / "account_events").glob("*.jsonl")):
        outcome = account_events.validate_file(
            path.read_bytes(), source_key=f"account_events/{path.name}", now=NOW
        )
        tables.append(account_events.raw_table(outcome))
    return pa.concat_tables(tables)


def _growth(raw_events: pa.Table) -> dict[str, pa.Table]:
    events = account_events.unique_events(account_events.events_from_table(raw_events))
    replays = growth.replay_accounts(events)
    weeks = sorted({growth.week_ending(CONFIG.day(i)) for i in range(CONFIG.days)})
    months = [growth.account_months(replays, month) for month in CONFIG.months()]
    return {
        "account_status_weekly": pa.concat_tables(growth.snapshot_table(replays, w) for w in weeks),
        "lifecycle_issues": growth.issues_table(replays),
        "growth_account_monthly": pa.concat_tables(
            growth.account_monthly_table(rows) for rows in months
        ),
        "growth_monthly": pa.concat_tables(
            growth.monthly_table(month, rows)
            for month, rows in zip(CONFIG.months(), months, strict=True)
        ),
    }


# --- profit ----------------------------------------------------------------------------


def _finance(company: Path, source: str) -> pa.Table:
    outcomes = [
        fi.validate_file(
            fi.spec_for(source),
            path.read_bytes(),
            source_key=f"{source}/{path.stem}/{source}-{path.stem}.csv",
            received_at=NOW,
        )
        for path in sorted((company / source).glob("*.csv"))
    ]
    return pa.concat_tables(o.accepted for o in outcomes)


def _profit(company: Path) -> dict[str, pa.Table]:
    invoices, expenses, salaries = (_finance(company, s) for s in FINANCE_SOURCES)
    inputs = profit.FinanceInputs(invoices, expenses, salaries, known_accounts=None)
    out: dict[str, list[pa.Table]] = defaultdict(list)
    for month in CONFIG.months():
        tables = profit.month_tables(month, inputs, now=NOW)
        out["revenue_account_monthly"].append(tables.revenue_accounts)
        out["expenses_monthly"].append(tables.expenses)
        out["profit_monthly"].append(
            profit.profit_row(month, tables.totals, publication_status="preliminary")
        )
    tables_out = {name: pa.concat_tables(parts) for name, parts in out.items()}
    tables_out["raw_invoices"] = invoices
    tables_out["raw_expenses"] = expenses
    return tables_out


# --- experiments (stand-in for the experiment pipeline) ---------------------------------


def _assignments(company: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((company / "assignments").glob("*.jsonl")):
        for text in path.read_text().splitlines():
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                continue
            wanted = ("experiment_id", "variant", "unit_type", "unit_id", "assigned_at")
            if isinstance(row, dict) and all(isinstance(row.get(k), str) for k in wanted):
                rows.append(row)
    return rows


def _experiment_assignments(rows: Iterable[dict[str, Any]]) -> pa.Table:
    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["unit_type"] in schemas.UNIT_TYPES:
            by_unit[(row["experiment_id"], row["unit_id"])].append(row)
    out = []
    for (experiment_id, unit_id), unit_rows in sorted(by_unit.items()):
        first = min(unit_rows, key=lambda r: r["assigned_at"])
        out.append(
            {
                "unit_type": first["unit_type"],
                "unit_id": unit_id,
                "variant": first["variant"],
                "assigned_at": datetime.fromisoformat(first["assigned_at"]),
                "multiple_variants": len({r["variant"] for r in unit_rows}) > 1,
                "experiment_id": experiment_id,
            }
        )
    schema = schemas.EXPERIMENT_ASSIGNMENTS.arrow_schema(with_partitions=True)
    return pa.Table.from_pylist(out, schema=schema)


_METRICS = ("sessions", "clicks", *(f"clicks_{t}" for t in schemas.CLICK_EVENT_TYPES))


def _unit_daily(assigned: pa.Table, tables: dict[str, pa.Table]) -> pa.Table:
    by_account = {(r["account_id"], r["dt"]): r for r in tables["engagement_daily"].to_pylist()}
    by_user = {(r["user_id"], r["dt"]): r for r in tables["engagement_user_daily"].to_pylist()}
    rows = []
    for unit in assigned.to_pylist():
        start = unit["assigned_at"].date()
        for day in (CONFIG.day(i) for i in range(CONFIG.days)):
            if day < start:
                continue
            dt = day.isoformat()
            if unit["unit_type"] == "account":
                found = by_account.get((unit["unit_id"], dt))
                active = found["active_users"] if found else 0
                hours = found["session_hours"] if found else 0.0
            else:
                found = by_user.get((unit["unit_id"], dt))
                active = 1 if found and found["clicks"] > 0 else 0
                hours = found["session_seconds"] / 3600 if found else 0.0
            row = {k: unit[k] for k in ("unit_type", "unit_id", "variant", "experiment_id")}
            row.update({m: (found[m] if found else 0) for m in _METRICS})
            row.update({"date": day, "dt": dt, "active_users": active, "session_hours": hours})
            rows.append(row)
    schema = schemas.EXPERIMENT_UNIT_DAILY.arrow_schema(with_partitions=True)
    return pa.Table.from_pylist(rows, schema=schema)


def _planned(company: Path) -> dict[str, dict[str, float]]:
    planned: dict[str, dict[str, float]] = defaultdict(dict)
    with (company / "experiments" / "experiments.csv").open() as handle:
        for row in csv.DictReader(handle):
            planned[row["experiment_id"]][row["variant"]] = float(row["planned_weight"])
    return planned


def _health(assigned: pa.Table, unit_daily: pa.Table, company: Path) -> pa.Table:
    planned = _planned(company)
    with_data = {
        (r["experiment_id"], r["unit_id"]) for r in unit_daily.to_pylist() if r["clicks"] > 0
    }
    rows = []
    for week in sorted({growth.week_ending(CONFIG.day(i)) for i in range(CONFIG.days)}):
        week_end = datetime(week.year, week.month, week.day, tzinfo=UTC) + timedelta(days=1)
        units = [u for u in assigned.to_pylist() if u["assigned_at"] < week_end]
        for experiment_id in sorted({u["experiment_id"] for u in units} & set(planned)):
            mine = [u for u in units if u["experiment_id"] == experiment_id]
            single = [u for u in mine if not u["multiple_variants"]]
            counts = Counter(u["variant"] for u in single)
            weights = planned[experiment_id]
            observed = [counts.get(v, 0) for v in weights]
            chi2, p = chi_square_p_value(observed, [len(single) * w for w in weights.values()])
            rows.append(
                {
                    "experiment_id": experiment_id,
                    "units": len(single),
                    "observed_split": [(v, str(counts.get(v, 0))) for v in weights],
                    "planned_split": [(v, f"{w:.2f}") for v, w in weights.items()],
                    "chi_square": chi2,
                    "p_value": p,
                    "srm_flag": p < SRM_P_THRESHOLD,
                    "units_multiple_variants": len(mine) - len(single),
                    "units_no_data": sum(
                        1 for u in single if (experiment_id, u["unit_id"]) not in with_data
                    ),
                    "week": week.isoformat(),
                }
            )
    schema = schemas.EXPERIMENT_HEALTH_WEEKLY.arrow_schema(with_partitions=True)
    return pa.Table.from_pylist(rows, schema=schema)


def _experiments(company: Path, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    assigned = _experiment_assignments(_assignments(company))
    unit_daily = _unit_daily(assigned, tables)
    return {
        "experiment_assignments": assigned,
        "experiment_unit_daily": unit_daily,
        "experiment_health_weekly": _health(assigned, unit_daily, company),
    }
