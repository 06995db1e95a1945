"""A small September of curated inputs whose executive figures are worked out by hand, and
how to read what a monthly run published: for the executive tests on the emulator (the
functional engines test, the IAM-enforced deployed stack)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from functions.adapters import glue_catalog, s3_tables
from functions.core import schemas
from functions.core.report.executive_period import month_period
from tests.conftest import EmulatorServer

MONTH = month_period("2026-09")
RUN_TIME = "2026-10-05T07:00:00Z"


@dataclass
class Lake:
    """Where the month's curated tables live: an emulator, the bucket, the Glue database."""

    server: EmulatorServer
    curated: str
    database: str

    def client(self, service: str) -> Any:
        return self.server.client(service)


# account -> (users a day, hours a day, clicks a day, days with clicks from the 1st)
ENGAGEMENT = {"acct-a": (2, 1.0, 10, 30), "acct-b": (1, 0.5, 4, 10)}
# account -> (seats at end, MRR at start, MRR at end, new, expansion, paid in September)
ACCOUNTS = {
    "acct-a": (5, 4000, 5000, 0, 1000, 5000),
    "acct-b": (3, 3000, 3000, 0, 0, 3000),
    "acct-c": (2, 0, 2000, 2000, 0, 2000),  # new in September, never clicks
}
LAST_DAY = {"acct-a": (2, 2), "acct-b": (0, 1)}  # account -> (WAU, MAU) on the 30th
PROFIT = {
    "revenue_cents": 10_000,
    "expenses_cents": 2_500,
    "salaries_cents": 6_000,
    "profit_cents": 1_500,
    "paying_subscribers": 3,
}


def row(table: schemas.Table, **values: Any) -> dict[str, Any]:
    """A registry row: the given values, every other column empty of its type."""
    defaults = {"bigint": 0, "double": 0.0, "string": "", "boolean": False}
    row: dict[str, Any] = {}
    for column in (*table.columns, *table.partition_keys):
        if column.name in values:
            row[column.name] = values[column.name]
        elif column.nullable:
            row[column.name] = None
        elif column.type == "timestamp":
            row[column.name] = datetime(2026, 10, 4, tzinfo=UTC)
        elif column.type == "date":
            row[column.name] = date(2026, 9, 30)
        else:
            row[column.name] = defaults[column.type]
    return row


def write(lake: Lake, table: schemas.Table, rows: list[dict[str, Any]]) -> None:
    glue_catalog.write_and_register(
        lake.client("s3"),
        lake.client("glue"),
        bucket=lake.curated,
        database=lake.database,
        table=table,
        rows=pa.Table.from_pylist(rows, schema=table.arrow_schema(with_partitions=True)),
        name="fixture",
        kms=False,
    )


def land_september(lake: Lake) -> None:
    daily = [
        row(
            schemas.ENGAGEMENT_DAILY,
            account_id=account,
            active_users=users,
            session_hours=hours,
            clicks=clicks,
            complete=True,
            dt=(MONTH.start + timedelta(days=n)).isoformat(),
        )
        for account, (users, hours, clicks, days) in ENGAGEMENT.items()
        for n in range(days)
    ]
    write(lake, schemas.ENGAGEMENT_DAILY, daily)
    last = MONTH.end.isoformat()
    write(
        lake,
        schemas.ACTIVE_USERS_DAILY,
        [
            row(schemas.ACTIVE_USERS_DAILY, account_id=a, wau=wau, mau=mau, dt=last)
            for a, (wau, mau) in LAST_DAY.items()
        ],
    )
    growth, revenue = [], []
    for account, (seats, start, end, new, expansion, paid) in ACCOUNTS.items():
        growth.append(
            row(
                schemas.GROWTH_ACCOUNT_MONTHLY,
                account_id=account,
                status_end="active",
                seats_end=seats,
                mrr_start_cents=start,
                mrr_end_cents=end,
                mrr_new_cents=new,
                mrr_expansion_cents=expansion,
                month=MONTH.name,
            )
        )
        revenue.append(
            row(
                schemas.REVENUE_ACCOUNT_MONTHLY,
                account_id=account,
                paid_cents=paid,
                invoices=1,
                month=MONTH.name,
            )
        )
    write(lake, schemas.GROWTH_ACCOUNT_MONTHLY, growth)
    write(lake, schemas.REVENUE_ACCOUNT_MONTHLY, revenue)
    write(
        lake,
        schemas.PROFIT_MONTHLY,
        [row(schemas.PROFIT_MONTHLY, **PROFIT, publication_status="final", month=MONTH.name)],
    )


def gate() -> dict[str, Any]:
    through = "2026-10-01T00:00:00Z"
    return {
        "attempt": 1,
        "checks": [
            {"upstream": u, "fresh": True, "fresh_through": through, "covered": True}
            for u in ("engagement", "growth", "profit")
        ],
    }


def published_totals(lake: Lake) -> tuple[str, dict[str, Any]]:
    """exec_join_totals' partition of the month as Glue publishes it: location and row."""
    location = glue_catalog.partition_location_of(
        lake.client("glue"),
        database=lake.database,
        table=schemas.EXEC_JOIN_TOTALS,
        values=[MONTH.grain, MONTH.name],
    )
    assert location is not None
    prefix = location.removeprefix(f"s3://{lake.curated}/")
    # Every object of the version but Athena's markers: a CREATE TABLE AS on AWS names its
    # files without an extension.
    data = [k for k in keys(lake, prefix) if not k.rsplit("/", 1)[-1].startswith(("_", "."))]
    rows = []
    for key in data:
        body = lake.client("s3").get_object(Bucket=lake.curated, Key=key)["Body"].read()
        rows += pq.read_table(pa.BufferReader(body)).to_pylist()
    assert len(rows) == 1, rows
    return location, rows[0]


def keys(lake: Lake, prefix: str) -> list[str]:
    pages = (
        lake.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=lake.curated, Prefix=prefix)
    )
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def kpi(lake: Lake) -> tuple[list[str], pa.Table]:
    prefix = f"{schemas.EXEC_KPI.prefix}/grain=month/period={MONTH.name}/"
    table = s3_tables.read_table(
        lake.client("s3"),
        bucket=lake.curated,
        table=schemas.EXEC_KPI,
        partition_filter={"grain": "month", "period": MONTH.name},
    )
    etags = [
        lake.client("s3").head_object(Bucket=lake.curated, Key=k)["ETag"]
        for k in keys(lake, prefix)
    ]
    return etags, table


HAND_TOTALS = {
    "accounts": 3,
    "unknown_accounts": 0,
    "accounts_start": 2,  # a and b
    "active_accounts": 3,
    "new_accounts": 1,  # c
    "churned_accounts": 0,
    "paying_accounts": 3,
    "seats": 10,  # 5 + 3 + 2, all paying at the end
    "mau_paying": 3,  # 2 + 1 + 0
    "mrr_start_cents": 7000,
    "mrr_end_cents": 10000,
    "mrr_new_cents": 2000,
    "mrr_expansion_cents": 1000,
    "mrr_contraction_cents": 0,
    "mrr_churn_cents": 0,
    "mrr_reactivation_cents": 0,
    "active_user_days": 70,  # 2 x 30 + 1 x 10
    "session_hours": 35.0,  # 1.0 x 30 + 0.5 x 10
    "clicks": 340,  # 10 x 30 + 4 x 10
    "incomplete_days": 0,
    "wau": 2,
    "mau": 3,
    "paid_cents": 10000,
}


def run_input() -> dict[str, Any]:
    """A monthly run of September that starts after the freshness gate (its answer given)."""
    return {
        "time": RUN_TIME,
        "grain": "month",
        "period": MONTH.name,
        "run_id": MONTH.execution_name,
        "gate": gate(),
    }
