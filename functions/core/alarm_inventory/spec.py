"""The shape of one alarm in the inventory (pure data, no CDK, no boto3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from functions.core.schemas import Pipeline

RUNBOOK_BASE = "docs/runbooks"


class Severity(StrEnum):
    PAGE = "page"  # wakes the on-call engineer
    TICKET = "ticket"  # waits for working hours


class Coverage(StrEnum):
    """Who watches a pipeline, per the run book's on-call schedule."""

    WEEKLY_ROTATION = "weekly rotation"  # one named owner a week (Engagement, Profit)
    MONTH_END = "last week of the month"  # DEs watch the month's runs (executive reports)
    WORKING_HOURS = "working hours"  # no on-call: debugged by the team (Growth)


# The run book's "Oncall schedule" of each pipeline. A pipeline watched in working hours
# only must not have paging alarms (tests/unit/test_oncall.py holds it).
COVERAGE: dict[Pipeline, Coverage] = {
    Pipeline.PROFIT: Coverage.WEEKLY_ROTATION,
    Pipeline.GROWTH: Coverage.WORKING_HOURS,
    Pipeline.ENGAGEMENT: Coverage.WEEKLY_ROTATION,
    Pipeline.EXECUTIVE: Coverage.MONTH_END,
    Pipeline.EXPERIMENT: Coverage.WORKING_HOURS,  # not an investor pipeline: no on-call
    Pipeline.PLATFORM: Coverage.WORKING_HOURS,
}


class Comparison(StrEnum):
    GREATER_THAN = "GreaterThanThreshold"
    GREATER_OR_EQUAL = "GreaterThanOrEqualToThreshold"
    LESS_THAN = "LessThanThreshold"
    LESS_OR_EQUAL = "LessThanOrEqualToThreshold"


class MissingData(StrEnum):
    """TreatMissingData, chosen on purpose for every alarm."""

    BREACHING = "breaching"  # silence is a failure (e.g. a stream that stops)
    NOT_BREACHING = "notBreaching"
    IGNORE = "ignore"
    MISSING = "missing"


class Owner(StrEnum):
    FINANCE = "Finance Team / Risk Team"
    ACCOUNTS = "Accounts Team"
    FRONTEND = "Software Frontend Team"
    BUSINESS_ANALYTICS = "Business Analytics Team"
    DATA_SCIENCE = "Data Science Team"
    DATA_ENGINEERING = "Data Engineering Team"


@dataclass(frozen=True)
class AlarmSpec:
    """One SLA as a CloudWatch alarm on a metric the pipelines publish."""

    key: str  # short, unique; the alarm name is `<prefix>-<key>`
    pipeline: Pipeline
    sla: str  # the run book's wording
    metric_name: str
    statistic: str
    period_seconds: int
    evaluation_periods: int
    threshold: float
    comparison: Comparison
    missing_data: MissingData
    severity: Severity
    owner: Owner
    secondary_owner: Owner = Owner.DATA_ENGINEERING
    dimensions: tuple[tuple[str, str], ...] = field(default=())
    datapoints_to_alarm: int | None = None
    description: str = ""

    @property
    def runbook(self) -> str:
        return f"{RUNBOOK_BASE}/{self.pipeline.value}.md#{self.key}"

    @property
    def pages(self) -> bool:
        return self.severity is Severity.PAGE

    @property
    def coverage(self) -> Coverage:
        return COVERAGE[self.pipeline]

    @property
    def response(self) -> str:
        """When someone acts: a page wakes the pipeline's on-call, a ticket waits."""
        if self.pages:
            return f"pages the on-call ({self.coverage.value})"
        return "waits for working hours"

    def runbook_link(self, base_url: str = "") -> str:
        """The runbook section under `base_url` (where the repository's files are served, so
        a link in an alarm e-mail opens); relative to the repository root without one."""
        return f"{base_url.rstrip('/')}/{self.runbook}" if base_url else self.runbook

    def alarm_description(self, runbook_base_url: str = "") -> str:
        """What the on-call engineer reads first: what broke, who owns it, where to look."""
        return (
            f"{self.description or self.sla} | SLA: {self.sla} | owner: {self.owner.value} "
            f"| secondary: {self.secondary_owner.value} | severity: {self.severity.value}, "
            f"{self.response} | runbook: {self.runbook_link(runbook_base_url)}"
        )
