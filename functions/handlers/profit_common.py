"""What the profit pipeline's handlers share: settings from the environment, clients."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from functions.adapters.profit_io import Buckets
from functions.core import env, schemas
from functions.core.landing import BucketRole
from functions.core.transform.profit_review import DEFAULT_REVIEW_DAYS


@dataclass(frozen=True)
class Settings:
    buckets: Buckets
    landing_bucket: str
    state_table: str
    metrics_namespace: str
    topic_arn: str
    review_days: int
    glue_databases: dict[schemas.Database, str]

    def database(self, table: schemas.Table) -> str:
        return self.glue_databases[table.database]

    @property
    def bucket_roles(self) -> dict[str, BucketRole]:
        return {
            self.landing_bucket: BucketRole.LANDING,
            self.buckets.finance: BucketRole.FINANCE,
        }


@cache
def settings() -> Settings:
    return Settings(
        buckets=Buckets(
            raw=os.environ[env.RAW_BUCKET],
            curated=os.environ[env.CURATED_BUCKET],
            finance=os.environ[env.FINANCE_BUCKET],
            quarantine=os.environ[env.QUARANTINE_BUCKET],
        ),
        landing_bucket=os.environ[env.LANDING_BUCKET],
        state_table=os.environ[env.STATE_TABLE],
        metrics_namespace=os.environ[env.METRICS_NAMESPACE],
        topic_arn=os.environ[env.ONCALL_TOPIC_ARN],
        review_days=int(os.environ.get(env.PROFIT_REVIEW_DAYS, str(DEFAULT_REVIEW_DAYS))),
        glue_databases={
            schemas.Database.RAW: os.environ[env.GLUE_DATABASE_RAW],
            schemas.Database.CURATED: os.environ[env.GLUE_DATABASE_CURATED],
            schemas.Database.FINANCE: os.environ[env.GLUE_DATABASE_FINANCE],
        },
    )
