"""Every setting a handler reads from its environment, typed, in one place.

CDK sets the variables (names: functions/core/env.py); each is read on first use, so a
function is given only the variables it needs and a missing one is a ConfigurationError
naming it. A setting the deployment may leave unset has its default in DEFAULTS: the constant
core defines beside the rule (infra's constructs import the same constants, so the value a
construct sets when its context says nothing is this default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Final

from functions.core import env, schemas
from functions.core.backfills import ENGAGEMENT, GROWTH, PROFIT
from functions.core.defaults import (
    DEFAULT_ALLOWED_LATENESS_DAYS,
    DEFAULT_ATHENA_MIN_RAW_BYTES,
    DEFAULT_ATHENA_POLL_SECONDS,
    DEFAULT_EXECUTIVE_ATHENA_MIN_INPUT_BYTES,
    DEFAULT_MAX_CHECKS,
    DEFAULT_PRE_PERIOD_DAYS,
    DEFAULT_RAW_STAGE_MAX_BYTES,
    DEFAULT_SESSION_GAP_MINUTES,
    DEFAULT_WAIT_SECONDS,
)
from functions.core.errors import ConfigurationError
from functions.core.landing import BucketRole
from functions.core.report.executive_period import MONTH, WEEK
from functions.core.transform.experiments_stats import DEFAULT_P_THRESHOLD
from functions.core.transform.profit_review import DEFAULT_REVIEW_DAYS

# Each default is defined beside the rule that uses it; this is the one table of them
# by variable (infra/constructs start from the same constants).
DEFAULTS: Final[Mapping[str, int | float]] = {
    env.ALLOWED_LATENESS_DAYS: DEFAULT_ALLOWED_LATENESS_DAYS,
    env.SESSION_GAP_MINUTES: DEFAULT_SESSION_GAP_MINUTES,
    env.PROFIT_REVIEW_DAYS: DEFAULT_REVIEW_DAYS,
    env.EXPERIMENT_SRM_P_THRESHOLD: DEFAULT_P_THRESHOLD,
    env.EXPERIMENT_PRE_PERIOD_DAYS: DEFAULT_PRE_PERIOD_DAYS,
    env.FRESHNESS_WAIT_SECONDS: DEFAULT_WAIT_SECONDS,
    env.FRESHNESS_MAX_CHECKS: DEFAULT_MAX_CHECKS,
    env.ATHENA_MIN_RAW_BYTES: DEFAULT_ATHENA_MIN_RAW_BYTES,
    env.ATHENA_POLL_SECONDS: DEFAULT_ATHENA_POLL_SECONDS,
    env.RAW_STAGE_MAX_BYTES: DEFAULT_RAW_STAGE_MAX_BYTES,
    env.EXECUTIVE_ATHENA_MIN_INPUT_BYTES: DEFAULT_EXECUTIVE_ATHENA_MIN_INPUT_BYTES,
}
# The state machine a workflow ARN variable names, by executive grain and by upstream.
EXECUTIVE_WORKFLOW_ENV: Final = {
    MONTH: env.EXECUTIVE_MONTHLY_WORKFLOW_ARN,
    WEEK: env.EXECUTIVE_WEEKLY_WORKFLOW_ARN,
}
UPSTREAM_WORKFLOW_ENV: Final = {
    ENGAGEMENT: env.ENGAGEMENT_WORKFLOW_ARN,
    GROWTH: env.GROWTH_WORKFLOW_ARN,
    PROFIT: env.PROFIT_WORKFLOW_ARN,
}


def required(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigurationError(f"the function's environment has no {name}")
    return value


def _int(name: str) -> int:
    return int(_number(name, int))


def _float(name: str) -> float:
    return float(_number(name, float))


def _number(name: str, kind: type[int] | type[float]) -> int | float:
    """The variable as a number of `kind`, DEFAULTS[name] when unset."""
    text = os.environ.get(name)
    if text is None:
        return DEFAULTS[name]
    try:
        return kind(text)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={text!r} is not a {kind.__name__}") from exc


@dataclass(frozen=True)
class Buckets:
    """Physical names of the registry buckets."""

    raw: str
    curated: str
    finance: str
    quarantine: str

    def for_table(self, table: schemas.Table) -> str:
        return {
            schemas.Bucket.RAW: self.raw,
            schemas.Bucket.CURATED: self.curated,
            schemas.Bucket.FINANCE: self.finance,
            schemas.Bucket.QUARANTINE: self.quarantine,
        }[table.bucket]


class Settings:
    """The settings, each read from the environment on first use."""

    @cached_property
    def landing_bucket(self) -> str:
        return required(env.LANDING_BUCKET)

    @cached_property
    def raw_bucket(self) -> str:
        return required(env.RAW_BUCKET)

    @cached_property
    def curated_bucket(self) -> str:
        return required(env.CURATED_BUCKET)

    @cached_property
    def quarantine_bucket(self) -> str:
        return required(env.QUARANTINE_BUCKET)

    @cached_property
    def finance_bucket(self) -> str:
        return required(env.FINANCE_BUCKET)

    @cached_property
    def reports_bucket(self) -> str:
        return required(env.REPORTS_BUCKET)

    @cached_property
    def buckets(self) -> Buckets:
        return Buckets(
            raw=self.raw_bucket,
            curated=self.curated_bucket,
            finance=self.finance_bucket,
            quarantine=self.quarantine_bucket,
        )

    @cached_property
    def bucket_roles(self) -> dict[str, BucketRole]:
        """The buckets whose files land (the landing bucket, the finance bucket's landing/)."""
        return {self.landing_bucket: BucketRole.LANDING, self.finance_bucket: BucketRole.FINANCE}

    @cached_property
    def state_table(self) -> str:
        return required(env.STATE_TABLE)

    @cached_property
    def topic_arn(self) -> str:
        return required(env.ONCALL_TOPIC_ARN)

    @cached_property
    def metrics_namespace(self) -> str:
        return required(env.METRICS_NAMESPACE)

    @cached_property
    def raw_database(self) -> str:
        return required(env.GLUE_DATABASE_RAW)

    @cached_property
    def curated_database(self) -> str:
        return required(env.GLUE_DATABASE_CURATED)

    @cached_property
    def finance_database(self) -> str:
        return required(env.GLUE_DATABASE_FINANCE)

    def database(self, table: schemas.Table) -> str:
        """The Glue database of a registry table."""
        return {
            schemas.Database.RAW: self.raw_database,
            schemas.Database.CURATED: self.curated_database,
            schemas.Database.FINANCE: self.finance_database,
        }[table.database]

    @cached_property
    def allowed_lateness_days(self) -> int:
        return _int(env.ALLOWED_LATENESS_DAYS)

    @cached_property
    def session_gap_minutes(self) -> float:
        return _float(env.SESSION_GAP_MINUTES)

    @cached_property
    def reconciliation_tolerance_cents(self) -> int:
        text = required(env.RECONCILIATION_TOLERANCE_CENTS)
        try:
            return int(text)
        except ValueError as exc:
            raise ConfigurationError(f"{env.RECONCILIATION_TOLERANCE_CENTS}={text!r}") from exc

    @cached_property
    def review_days(self) -> int:
        return _int(env.PROFIT_REVIEW_DAYS)

    @cached_property
    def srm_p_threshold(self) -> float:
        return _float(env.EXPERIMENT_SRM_P_THRESHOLD)

    @cached_property
    def pre_period_days(self) -> int:
        return _int(env.EXPERIMENT_PRE_PERIOD_DAYS)

    @cached_property
    def freshness_wait_seconds(self) -> int:
        return _int(env.FRESHNESS_WAIT_SECONDS)

    @cached_property
    def freshness_max_checks(self) -> int:
        return _int(env.FRESHNESS_MAX_CHECKS)

    @cached_property
    def athena_workgroup(self) -> str:
        """The workgroup the pipelines' own Athena queries run in."""
        return required(env.ATHENA_WORKGROUP)

    @cached_property
    def athena_min_raw_bytes(self) -> int:
        """A day whose landed raw clicks reach this many bytes is computed on Athena."""
        return _int(env.ATHENA_MIN_RAW_BYTES)

    @cached_property
    def raw_stage_max_bytes(self) -> int:
        """A day of at most this many raw bytes is downloaded to /tmp; a larger one is read
        from S3 as it is scanned."""
        return _int(env.RAW_STAGE_MAX_BYTES)

    @cached_property
    def athena_poll_seconds(self) -> int:
        return _int(env.ATHENA_POLL_SECONDS)

    @cached_property
    def executive_athena_min_input_bytes(self) -> int:
        """A month whose curated inputs reach this many bytes is joined on Athena."""
        return _int(env.EXECUTIVE_ATHENA_MIN_INPUT_BYTES)

    def executive_workflow(self, grain: str) -> str:
        """The ARN of the executive workflow of `grain`."""
        return required(EXECUTIVE_WORKFLOW_ENV[grain])

    def upstream_workflow(self, upstream: str) -> str:
        """The ARN of an upstream's workflow (the freshness gate's backfills)."""
        return required(UPSTREAM_WORKFLOW_ENV[upstream])

    @property
    def fault_injection(self) -> str | None:
        """Chaos drills' spec (docs/runbooks/executive.md); read on every call, unset normally."""
        return os.environ.get(env.FAULT_INJECTION)


@cache
def settings() -> Settings:
    return Settings()
