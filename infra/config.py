"""Per-environment configuration, read from cdk.json context and validated once.

`cdk.json` holds `environments.<name>` blocks; `-c env=NAME` picks one (default `local`).
`-c account=ID` overrides the block's account (the local deploy passes what the target's
STS answers; a real deploy may pass the account it targets).
Nothing environment-specific lives in code: change cdk.json or pass `-c` instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, cast

from functions.core.defaults import (
    DEFAULT_ATHENA_MIN_RAW_BYTES,
    DEFAULT_ATHENA_POLL_SECONDS,
    DEFAULT_EXECUTIVE_ATHENA_MIN_INPUT_BYTES,
)
from functions.core.errors import ConfigurationError
from functions.core.schemas import Database

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"
ENV_CONTEXT_KEY = "env"
ENVIRONMENTS_CONTEXT_KEY = "environments"
ACCOUNT_CONTEXT_KEY = "account"
# What a CDK synthesizer replaces in `file_assets_bucket` with the stack's account/region.
ACCOUNT_PLACEHOLDER = "${AWS::AccountId}"
REGION_PLACEHOLDER = "${AWS::Region}"
DEFAULT_ENV = "local"
# The one stack's CloudFormation name: the CDK app deploys it, the tools read its outputs.
STACK_NAME = "PabloPipelines"
# The Athena workgroups' purposes (named `<name_prefix>-<purpose>` when deployed): analysts
# read everything but finance data; finance reads finance data too.
ANALYSTS_WORKGROUP = "analysts"
FINANCE_WORKGROUP = "finance"
# The pipelines' own queries (the daily engagement workflow's Athena path): not a person's,
# so their results and cost are apart from the analysts'.
PIPELINES_WORKGROUP = "pipelines"
WORKGROUPS = (ANALYSTS_WORKGROUP, FINANCE_WORKGROUP, PIPELINES_WORKGROUP)


def resource_name(name_prefix: str, purpose: str) -> str:
    """Name of a regional resource (table, topic, workgroup, role, alarm, state machine):
    `<prefix>-<purpose>`. Tools that know only the stack's `NamePrefix` output use this."""
    return f"{name_prefix}-{purpose}"


def glue_database_name(glue_prefix: str, database: Database) -> str:
    """`<glue prefix>_<database>`, e.g. `pablo_local_curated` (Athena wants underscores)."""
    return f"{glue_prefix}_{database.value}"


def is_finance_workgroup(workgroup: str) -> bool:
    """Finance tables are read only here: `finance`, or a deployed `<prefix>-finance`."""
    return workgroup == FINANCE_WORKGROUP or workgroup.endswith(f"-{FINANCE_WORKGROUP}")


Synthesizer = Literal["cli-credentials", "default"]
SYNTHESIZERS: tuple[str, ...] = ("cli-credentials", "default")

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# Used in bucket names (3-63 chars with account and region appended) and, with `_`
# instead of `-`, in Glue database names.
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HTTPS_RE = re.compile(r"^https://[^\s/]+\S*$")
_SLACK_WORKSPACE_RE = re.compile(r"^[0-9A-Z]{1,255}$")
_SLACK_CHANNEL_RE = re.compile(r"^[A-Za-z0-9]+$")
# CloudWatch Logs accepts only these retention values.
LOG_RETENTION_DAYS: frozenset[int] = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557}
    | {2922, 3288, 3653}
)


@dataclass(frozen=True)
class SlackChannel:
    """A Slack channel that AWS Chatbot posts the on-call topic's alarms to. The workspace
    must be authorised once in the AWS Chatbot console (docs/deploy.md)."""

    workspace_id: str
    channel_id: str


@dataclass(frozen=True)
class OnCallSubscriptions:
    """Who the on-call topic notifies: e-mail addresses (each confirms once), HTTPS
    endpoints (PagerDuty, Opsgenie and similar SNS integrations) and Slack channels."""

    email: tuple[str, ...] = ()
    https: tuple[str, ...] = ()
    slack: tuple[SlackChannel, ...] = ()

    def problems(self) -> list[str]:
        found = [f"e-mail {a!r} is not an address" for a in self.email if not _EMAIL_RE.match(a)]
        found += [
            f"{url!r} is not an https:// URL" for url in self.https if not _HTTPS_RE.match(url)
        ]
        for channel in self.slack:
            if not (
                _SLACK_WORKSPACE_RE.match(channel.workspace_id)
                and _SLACK_CHANNEL_RE.match(channel.channel_id)
            ):
                found.append(f"slack channel {channel} needs workspace_id (T...) and channel_id")
        return [f"oncall_subscriptions: {problem}" for problem in found]


@dataclass(frozen=True)
class PipelineConfig:
    """One deployment environment: where it goes, how it is named, its thresholds."""

    env_name: str
    account: str
    region: str
    name_prefix: str
    synthesizer: Synthesizer
    retain_data: bool
    allowed_lateness_days: int
    session_gap_minutes: int
    reconciliation_tolerance_cents: int
    log_retention_days: int
    noncurrent_version_days: int
    athena_results_days: int
    quarantine_retention_days: int
    access_log_retention_days: int
    metrics_namespace: str
    file_assets_bucket: str | None = None
    # Where docs/runbooks is served (e.g. the repository's web view): alarm descriptions then
    # carry absolute links. Empty: links relative to the repository root.
    runbook_base_url: str = ""
    oncall_subscriptions: OnCallSubscriptions = OnCallSubscriptions()
    # The daily engagement engine choice: a day of at least this many landed raw_clicks
    # bytes runs on Athena (functions/core/defaults.py says why bytes and why this size).
    athena_min_raw_bytes: int = DEFAULT_ATHENA_MIN_RAW_BYTES
    # Seconds between the workflow's checks of a running Athena step.
    athena_poll_seconds: int = DEFAULT_ATHENA_POLL_SECONDS
    # The monthly executive engine choice: a month whose curated inputs reach this many
    # bytes is joined on Athena (functions/core/defaults.py says why it is its own setting).
    executive_athena_min_input_bytes: int = DEFAULT_EXECUTIVE_ATHENA_MIN_INPUT_BYTES

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ConfigurationError(
                f"cdk.json environments.{self.env_name} is invalid: " + "; ".join(problems)
            )

    @property
    def glue_prefix(self) -> str:
        """Glue and Athena names take underscores, not hyphens."""
        return self.name_prefix.replace("-", "_")

    def bucket_name(self, purpose: str) -> str:
        """Globally unique, stable bucket name: `<prefix>-<purpose>-<account>-<region>`."""
        return f"{self.name_prefix}-{purpose}-{self.account}-{self.region}"

    def resource_name(self, purpose: str) -> str:
        """Name for a regional resource (table, topic, workgroup, role): `<prefix>-<purpose>`."""
        return resource_name(self.name_prefix, purpose)

    def glue_database_name(self, database: Database) -> str:
        return glue_database_name(self.glue_prefix, database)

    def glue_database_names(self) -> dict[str, str]:
        """Logical database (`curated`) -> its Glue name, for every database."""
        return {db.value: self.glue_database_name(db) for db in Database}

    def workgroup_name(self, workgroup: str) -> str:
        """A workgroup's short name (analysts, finance, pipelines) as deployed; any other name
        (already a deployed one) as given."""
        if workgroup in WORKGROUPS:
            return self.resource_name(workgroup)
        return workgroup

    @property
    def file_assets_bucket_name(self) -> str | None:
        """`file_assets_bucket` with the account and region filled in."""
        if self.file_assets_bucket is None:
            return None
        return self.file_assets_bucket.replace(ACCOUNT_PLACEHOLDER, self.account).replace(
            REGION_PLACEHOLDER, self.region
        )


def _problems(config: PipelineConfig) -> list[str]:
    problems: list[str] = []
    checks: list[tuple[bool, str]] = [
        (bool(_ACCOUNT_RE.match(config.account)), "account must be 12 digits"),
        (bool(_REGION_RE.match(config.region)), f"region {config.region!r} is not a region"),
        (
            bool(_PREFIX_RE.match(config.name_prefix)),
            "name_prefix must be 3-20 lowercase letters, digits or hyphens",
        ),
        (config.synthesizer in SYNTHESIZERS, f"synthesizer must be one of {SYNTHESIZERS}"),
        (
            config.log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days: not a value "
            "CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, ..., 365, 400, ...)",
        ),
        (bool(config.metrics_namespace.strip()), "metrics_namespace must not be empty"),
    ]
    problems.extend(message for ok, message in checks if not ok)
    for name in (
        "allowed_lateness_days",
        "session_gap_minutes",
        "noncurrent_version_days",
        "athena_results_days",
        "quarantine_retention_days",
        "access_log_retention_days",
        "athena_min_raw_bytes",
        "athena_poll_seconds",
        "executive_athena_min_input_bytes",
    ):
        if getattr(config, name) <= 0:
            problems.append(f"{name} must be positive")
    if config.reconciliation_tolerance_cents < 0:
        problems.append("reconciliation_tolerance_cents must not be negative")
    if config.synthesizer == "cli-credentials" and not (
        config.file_assets_bucket_name and _BUCKET_RE.match(config.file_assets_bucket_name)
    ):
        problems.append("synthesizer cli-credentials needs a valid file_assets_bucket name")
    if len(config.bucket_name("athena-results")) > 63:
        problems.append("name_prefix is too long: bucket names would exceed 63 characters")
    if config.runbook_base_url and not _HTTPS_RE.match(config.runbook_base_url):
        problems.append("runbook_base_url must be an https:// URL (or empty)")
    problems.extend(config.oncall_subscriptions.problems())
    return problems


_TYPES: dict[str, type] = {
    "account": str,
    "region": str,
    "name_prefix": str,
    "synthesizer": str,
    "retain_data": bool,
    "metrics_namespace": str,
    "file_assets_bucket": str,
    "runbook_base_url": str,
    "oncall_subscriptions": dict,
}
_SUBSCRIPTION_KINDS = ("email", "https", "slack")


def subscriptions_from_dict(env_name: str, raw: dict[str, Any]) -> OnCallSubscriptions:
    """`oncall_subscriptions`: {"email": [..], "https": [..], "slack": [{workspace_id,
    channel_id}]}, every kind optional."""
    where = f"environments.{env_name}.oncall_subscriptions"
    unknown = sorted(set(raw) - set(_SUBSCRIPTION_KINDS))
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {unknown}; known {_SUBSCRIPTION_KINDS}")
    lists = {kind: raw.get(kind, []) for kind in _SUBSCRIPTION_KINDS}
    for kind, items in lists.items():
        expected = dict if kind == "slack" else str
        if not isinstance(items, list) or not all(isinstance(i, expected) for i in items):
            raise ConfigurationError(f"{where}.{kind} must be a list of {expected.__name__}")
    try:
        slack = tuple(SlackChannel(**channel) for channel in lists["slack"])
    except TypeError as exc:
        raise ConfigurationError(
            f"{where}.slack: each channel is {{workspace_id, channel_id}} ({exc})"
        ) from exc
    return OnCallSubscriptions(
        email=tuple(lists["email"]), https=tuple(lists["https"]), slack=slack
    )


def config_from_dict(env_name: str, raw: dict[str, Any]) -> PipelineConfig:
    """Validate one `environments.<env_name>` block (types, unknown and missing keys)."""
    known = {f.name for f in fields(PipelineConfig)} - {"env_name"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigurationError(f"environments.{env_name}: unknown keys {unknown}")
    optional = {
        "file_assets_bucket",
        "runbook_base_url",
        "oncall_subscriptions",
        "athena_min_raw_bytes",
        "athena_poll_seconds",
        "executive_athena_min_input_bytes",
    }
    missing = sorted(known - optional - set(raw))
    if missing:
        raise ConfigurationError(f"environments.{env_name}: missing keys {missing}")
    for key, value in raw.items():
        expected = _TYPES.get(key, int)
        # bool is a subclass of int: a `true` where a number belongs is a mistake.
        wrong_bool = expected is int and isinstance(value, bool)
        if not isinstance(value, expected) or wrong_bool:
            raise ConfigurationError(
                f"environments.{env_name}.{key} must be {expected.__name__}, got {value!r}"
            )
    values = dict(raw)
    if "oncall_subscriptions" in values:
        values["oncall_subscriptions"] = subscriptions_from_dict(
            env_name, values["oncall_subscriptions"]
        )
    return PipelineConfig(env_name=env_name, **values)


def config_from_context(context: dict[str, Any]) -> PipelineConfig:
    """The environment that context key `env` names, from context key `environments`,
    with its account replaced by context key `account` when that is given."""
    env_name = context.get(ENV_CONTEXT_KEY) or DEFAULT_ENV
    environments = context.get(ENVIRONMENTS_CONTEXT_KEY)
    if not isinstance(environments, dict) or not environments:
        raise ConfigurationError("cdk.json context has no `environments` block")
    if env_name not in environments:
        raise ConfigurationError(
            f"unknown environment {env_name!r} (-c env=NAME); known: {sorted(environments)}"
        )
    block = dict(environments[env_name])
    account = context.get(ACCOUNT_CONTEXT_KEY)
    if account:
        block["account"] = str(account)
    return config_from_dict(str(env_name), block)


def read_cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The `context` block of cdk.json, for runs outside the CDK CLI (tests, scripts)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    return cast(dict[str, Any], data.get("context", {}))


def load_config(env_name: str = DEFAULT_ENV, *, path: Path = CDK_JSON) -> PipelineConfig:
    """The named environment from cdk.json (what tools such as the local deployer use)."""
    return config_from_context({**read_cdk_json_context(path), ENV_CONTEXT_KEY: env_name})
