"""What the experiment pipeline's handlers share: settings from the environment, clients."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from functions.core import env
from functions.core.transform.experiments import DEFAULT_PRE_PERIOD_DAYS
from functions.core.transform.experiments_stats import DEFAULT_P_THRESHOLD


@dataclass(frozen=True)
class Settings:
    landing_bucket: str
    raw_bucket: str
    curated_bucket: str
    quarantine_bucket: str
    raw_database: str
    curated_database: str
    metrics_namespace: str
    srm_p_threshold: float
    pre_period_days: int


@cache
def settings() -> Settings:
    return Settings(
        landing_bucket=os.environ[env.LANDING_BUCKET],
        raw_bucket=os.environ[env.RAW_BUCKET],
        curated_bucket=os.environ[env.CURATED_BUCKET],
        quarantine_bucket=os.environ[env.QUARANTINE_BUCKET],
        raw_database=os.environ[env.GLUE_DATABASE_RAW],
        curated_database=os.environ[env.GLUE_DATABASE_CURATED],
        metrics_namespace=os.environ[env.METRICS_NAMESPACE],
        srm_p_threshold=float(
            os.environ.get(env.EXPERIMENT_SRM_P_THRESHOLD, str(DEFAULT_P_THRESHOLD))
        ),
        pre_period_days=int(
            os.environ.get(env.EXPERIMENT_PRE_PERIOD_DAYS, str(DEFAULT_PRE_PERIOD_DAYS))
        ),
    )
