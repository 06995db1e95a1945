"""Lambda entry point: the freshness gate of the executive workflows.

Input: `{"input": <the execution input>, "attempt": n}` (n = checks made so far). Checks
every upstream of the period (functions/core/report/executive_freshness.py); for each stale one
starts its backfill (the upstream workflow, under a name derived from this execution so a
later check never starts it twice) and answers how long to wait before the next check.
After PABLO_FRESHNESS_MAX_CHECKS checks it answers `give_up` with a cause naming the stale
inputs; the workflow then alerts on-call and fails.

The wait and the number of checks may be lowered (never raised) by the execution input's
`freshness` = {"wait_seconds", "max_checks"}: the bound on the time a month may wait is
the deployment's.
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools import Logger

from functions.adapters import s3_objects, state_table, workflows
from functions.core import backfills
from functions.core.report import executive_freshness as freshness
from functions.core.report import executive_layout
from functions.handlers.clients import client
from functions.handlers.executive_common import Run, run_request
from functions.handlers.settings import settings

EXECUTION_NAME_LIMIT: Final = 80  # Step Functions' limit on an execution name

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = run_request(event.get("input", event))
    attempt = int(event.get("attempt", 0)) + 1
    wait_seconds, max_checks = _bounds(event.get("input", {}).get("freshness") or {})
    decision = freshness.GateDecision(tuple(_checks(run)), attempt, max_checks)
    backfills = [] if decision.give_up else [_backfill(run, c) for c in decision.stale]
    answer = {
        "attempt": attempt,
        "fresh": decision.fresh,
        "give_up": decision.give_up,
        "wait_seconds": wait_seconds,
        "cause": decision.cause,
        "stale": [c.upstream for c in decision.stale],
        "checks": [c.as_json() for c in decision.checks],
        "backfills": backfills,
    }
    logger.info("freshness checked", extra=answer)
    return answer


def _bounds(requested: dict[str, Any]) -> tuple[int, int]:
    # The deployment's bounds (defaults: functions/handlers/settings.py).
    wait, checks = settings().freshness_wait_seconds, settings().freshness_max_checks
    if "wait_seconds" in requested:
        wait = max(1, min(wait, int(requested["wait_seconds"])))
    if "max_checks" in requested:
        checks = max(1, min(checks, int(requested["max_checks"])))
    return wait, checks


def _checks(run: Run) -> list[freshness.UpstreamCheck]:
    config = settings()
    dynamodb, s3 = client("dynamodb"), client("s3")
    period, now = run.period, run.now
    checks = [
        freshness.engagement_check(
            period,
            state_table.day_states(dynamodb, table=config.state_table),
            now=now,
            run_id=f"{run.run_id}-engagement",
        ),
        freshness.growth_check(
            period,
            {
                name: all(
                    s3_objects.has_object(
                        s3, bucket=config.curated_bucket, prefix=p, suffix=".parquet"
                    )
                    for p in prefixes
                )
                for name, prefixes in executive_layout.growth_partition_prefixes(period).items()
            },
            now=now,
        ),
    ]
    if period.grain == "month":
        record = state_table.month_record(dynamodb, table=config.state_table, month=period.name)
        profit = freshness.profit_check(period, present=record is not None, now=now)
        if profit is not None:
            checks.append(profit)
    return checks


def _backfill(run: Run, check: freshness.UpstreamCheck) -> dict[str, Any]:
    """Start the upstream's backfill, one at a time per execution: while one runs, wait for
    it; once it has finished, a check that still finds the upstream stale starts another
    only if the stale state changed (the backfill version, in the name: the name is the
    idempotency key), e.g. a late click dirtied a day again while the gate waited."""
    sfn, machine = client("stepfunctions"), settings().upstream_workflow(check.upstream)
    version = f"-{check.backfill_version}" if check.backfill_version else ""
    suffix = backfills.backfill_suffix(check.upstream)
    prefix = run.run_id[: EXECUTION_NAME_LIMIT - len(suffix) - len(version)] + suffix
    running = executive_layout.named_with(
        workflows.executions(sfn, machine=machine, status="RUNNING"), prefix
    )
    if running is not None:
        return {"upstream": check.upstream, "execution": running, "started_now": False}
    name = prefix + version
    started = workflows.start_execution(sfn, machine=machine, name=name, payload=check.backfill)
    return {"upstream": check.upstream, "execution": name, "started_now": started}
