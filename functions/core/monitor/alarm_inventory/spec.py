"""The shape of one alarm in the inventory (pure data, no CDK, no boto3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from functions.core.schemas import Pipeline

RUNBOOK_BASE = "docs/runbooks"
# Alarm periods, in seconds (CloudWatch's unit).
FIVE_MINUTES = 300
HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY


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


class Watched(StrEnum):
    """An AWS resource whose own service metrics an alarm watches (AWS publishes them)."""

    FUNCTION = "function"  # a Lambda function: AWS/Lambda, FunctionName
    WORKFLOW = "workflow"  # a Step Functions state machine: AWS/States, StateMachineArn
    STREAM = "stream"  # a Kinesis stream: AWS/Kinesis, StreamName
    QUEUE = "queue"  # an SQS queue: AWS/SQS, QueueName

    @property
    def namespace(self) -> str:
        return _AWS_NAMESPACES[self]

    @property
    def dimension(self) -> str:
        return _AWS_DIMENSIONS[self]


_AWS_NAMESPACES: dict[Watched, str] = {
    Watched.FUNCTION: "AWS/Lambda",
    Watched.WORKFLOW: "AWS/States",
    Watched.STREAM: "AWS/Kinesis",
    Watched.QUEUE: "AWS/SQS",
}
_AWS_DIMENSIONS: dict[Watched, str] = {
    Watched.FUNCTION: "FunctionName",
    Watched.WORKFLOW: "StateMachineArn",
    Watched.STREAM: "StreamName",
    Watched.QUEUE: "QueueName",
}


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
    # An AWS service metric of one deployed resource instead of a pipeline metric: the
    # resource's short name (`<prefix>-<resource>` deployed); CDK fills the dimension.
    watched: Watched | None = None
    resource: str = ""
    # The runbook heading when several alarms share one section (one per function, say).
    runbook_section: str = ""

    def __post_init__(self) -> None:
        if (self.watched is None) != (not self.resource):
            raise ValueError(f"alarm {self.key}: `watched` and `resource` go together")

    @property
    def namespace(self) -> str | None:
        """The AWS namespace of a watched resource; None: the pipelines' own namespace."""
        return self.watched.namespace if self.watched else None

    @property
    def runbook_anchor(self) -> str:
        return self.runbook_section or self.key

    @property
    def runbook(self) -> str:
        return f"{RUNBOOK_BASE}/{self.pipeline.value}.md#{self.runbook_anchor}"

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
