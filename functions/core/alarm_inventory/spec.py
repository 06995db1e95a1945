"""The shape of one alarm in the inventory (pure data, no CDK, no boto3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from functions.core.schemas import Pipeline

RUNBOOK_BASE = "docs/runbooks"


class Severity(StrEnum):
    PAGE = "page"  # wakes the on-call engineer
    TICKET = "ticket"  # waits for working hours


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

    def alarm_description(self) -> str:
        """What the on-call engineer reads first: what broke, who owns it, where to look."""
        return (
            f"{self.description or self.sla} | SLA: {self.sla} | owner: {self.owner.value} "
            f"| secondary: {self.secondary_owner.value} | severity: {self.severity.value} "
            f"| runbook: {self.runbook}"
        )
