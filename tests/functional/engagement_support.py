"""The engagement functions deployed into the emulator from the `functions` package, with
the environment the CDK construct gives them (until the real deploy is used by these tests).
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from functions.adapters import s3_tables
from functions.core import env, schemas
from tests.conftest import EmulatorServer
from tests.support import (
    deploy_functions_package,
    glue_database,
    state_table,
    unique_name,
)
from tests.support import wait_for as shared_wait_for

NAMESPACE = "PabloTest/Engagement"
wait_for = functools.partial(shared_wait_for, timeout=60.0, interval=0.2)


@dataclass
class EngagementRig:
    server: EmulatorServer
    raw: str
    curated: str
    quarantine: str
    state_table: str
    raw_database: str
    curated_database: str
    namespace: str
    ingest: str = ""
    daily: str = ""
    monitor: str = ""

    def client(self, service: str) -> Any:
        return self.server.client(service)

    def environment(self) -> dict[str, str]:
        return {
            env.RAW_BUCKET: self.raw,
            env.CURATED_BUCKET: self.curated,
            env.QUARANTINE_BUCKET: self.quarantine,
            env.STATE_TABLE: self.state_table,
            env.GLUE_DATABASE_RAW: self.raw_database,
            env.GLUE_DATABASE_CURATED: self.curated_database,
            env.METRICS_NAMESPACE: self.namespace,
            env.ALLOWED_LATENESS_DAYS: "7",
            env.SESSION_GAP_MINUTES: "30",
            env.POWERTOOLS_SERVICE_NAME: "engagement",
        }

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        response = self.client("lambda").invoke(
            FunctionName=function, Payload=json.dumps(event).encode()
        )
        body: dict[str, Any] = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, body
        return body

    def keys(self, bucket: str, prefix: str) -> list[str]:
        pages = (
            self.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    def read(self, bucket: str, prefix: str) -> pa.Table:
        tables = [
            pq.read_table(io.BytesIO(self.body(bucket, key)))
            for key in self.keys(bucket, prefix)
            if s3_tables.is_data_key(key)
        ]
        return pa.concat_tables(tables) if tables else pa.table({})

    def body(self, bucket: str, key: str) -> bytes:
        data: bytes = self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def put_parquet(self, bucket: str, key: str, table: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=sink.getvalue())


def build_rig(server: EmulatorServer) -> EngagementRig:
    """Buckets, state table and Glue tables (from the registry) with unique names."""
    s3 = server.client("s3")
    names = {p: unique_name(p) for p in ("raw", "curated", "quarantine")}
    for name in names.values():
        s3.create_bucket(Bucket=name)
    databases = {
        database: glue_database(
            server,
            unique_name(database.value).replace("-", "_"),
            schemas.tables_in(database),
            names[bucket],
        )
        for database, bucket in (
            (schemas.Database.RAW, "raw"),
            (schemas.Database.CURATED, "curated"),
        )
    }
    return EngagementRig(
        server=server,
        raw=names["raw"],
        curated=names["curated"],
        quarantine=names["quarantine"],
        state_table=state_table(server.client("dynamodb")),
        raw_database=databases[schemas.Database.RAW],
        curated_database=databases[schemas.Database.CURATED],
        namespace=f"{NAMESPACE}/{unique_name('ns')}",
    )


def create_function(
    rig: EngagementRig,
    *,
    name: str,
    handler: str,
    timeout: int = 120,
    environment: dict[str, str] | None = None,
) -> str:
    created = deploy_functions_package(
        rig,
        name=name,
        handler=handler,
        environment={**rig.environment(), **(environment or {})},
        timeout=timeout,
        memory_size=2048,
    )
    return str(created["FunctionName"])


def metric_sum(rig: EngagementRig, metric: str, dimensions: dict[str, str] | None = None) -> float:
    """Sum of every datapoint of `metric` (the emulator keeps them all)."""
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    now = datetime.now(UTC)
    stats = rig.client("cloudwatch").get_metric_statistics(
        Namespace=rig.namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in (dimensions or {}).items()],
        StartTime=now - timedelta(days=400),
        EndTime=now + timedelta(days=400),
        Period=86400 * 800,
        Statistics=["Sum"],
    )
    return float(sum(p["Sum"] for p in stats["Datapoints"]))
