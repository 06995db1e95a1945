"""Every change the emulator makes to moto's internals, one module per service, each patch
with the reason it exists (its builder's docstring) and a restore.

Written against moto `MOTO_VERSION` (the pin in pyproject.toml). moto's internals are not
an API: `seams.py` lists every moto name the emulator patches or relies on, and
tests/emulator/test_moto_patches.py checks them against the installed moto (and that the pin is
this version), so an upgrade that moved one fails there, naming it, instead of deep in a
demo. Patches wrap moto's function rather than copy it wherever they can, so a moto that
fixes the behaviour turns the patch into a no-op rather than a conflict.

`registry.apply(patch, **dependencies)` installs one (idempotent), `registry.restore(patch)`
puts back exactly what it replaced. The server installs the server-wide ones at start
(`install_patches`); an extension applies its own in `start` and restores them in `stop`.
Nothing here runs outside the emulator's process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from pablo.local.clock import Clock
from pablo.local.moto_patches import (
    athena,
    awslambda,
    cloudformation,
    cloudwatch,
    core,
    dynamodb,
    events,
    iam,
    kinesis,
    s3,
    stepfunctions,
)
from pablo.local.moto_patches.registry import Patch, Replacement, applied, apply, restore

MOTO_VERSION: Final = "5.2.5"

# Every patch, by service.
ALL: Final[tuple[Patch, ...]] = (
    core.MODULE_LIST_CACHED,
    core.TIMESTAMPS_PARSED_DIRECTLY,
    core.DICT_KEYS_LISTED_ONCE_PER_ANSWER,
    cloudformation.RESOURCE_MAP_THREAD_SAFE,
    dynamodb.REQUESTS_ATOMIC,
    dynamodb.QUERY_READS_ITS_PARTITION,
    dynamodb.ATTRIBUTE_VALUES_SERIALIZED_DIRECTLY,
    kinesis.ARRIVAL_FROM_CLOCK,
    kinesis.SHARD_INDEXED,
    kinesis.WAKE_POLLERS_ON_PUT,
    awslambda.RUN_DEPLOYED_CODE,
    awslambda.CLOUDFORMATION_LAYERS,
    awslambda.FUNCTION_ERROR_UNHANDLED,
    awslambda.NO_PER_RECORD_KINESIS_DELIVERY,
    stepfunctions.CLOUDFORMATION_STATE_MACHINES_EXECUTE,
    stepfunctions.EXECUTION_NAME_DEFAULT,
    stepfunctions.IN_PROCESS_CALLS,
    stepfunctions.DEFINITION_PARSED_ONCE,
    events.RULE_TARGETS,
    events.S3_EVENT_FLATTENED_ONCE,
    s3.NOTIFICATION_CLOCK,
    s3.LAMBDA_NOTIFICATIONS_PERMITTED,
    s3.LIST_PREFIX_FAST,
    cloudwatch.METRICS_CLOCK,
    cloudwatch.ALARM_HISTORY,
    athena.QUERIES_ANSWERED,
    iam.SKIP_SIGNATURE_RECOMPUTATION,
    iam.IN_PROCESS_CALLS_EXEMPT,
    iam.RESOURCES_AS_AWS_EVALUATES,
)

__all__ = ["ALL", "MOTO_VERSION", "Patch", "Replacement", "applied", "apply", "restore"]


def install_patches(clock: Clock, *, task_client: Callable[[str, str, str], Any]) -> list[str]:
    """The server-wide patches (idempotent); returns every patch installed, for the health
    report. `task_client(service, region, role ARN)` gives a Step Functions task a client
    acting as its state machine's role, or None to act as the service."""
    apply(kinesis.ARRIVAL_FROM_CLOCK, clock=clock)
    apply(kinesis.SHARD_INDEXED)
    apply(core.MODULE_LIST_CACHED)
    apply(core.TIMESTAMPS_PARSED_DIRECTLY)
    apply(core.DICT_KEYS_LISTED_ONCE_PER_ANSWER)
    apply(cloudformation.RESOURCE_MAP_THREAD_SAFE)
    apply(dynamodb.REQUESTS_ATOMIC)
    apply(dynamodb.QUERY_READS_ITS_PARTITION)
    apply(dynamodb.ATTRIBUTE_VALUES_SERIALIZED_DIRECTLY)
    apply(s3.LIST_PREFIX_FAST)
    apply(events.S3_EVENT_FLATTENED_ONCE)
    apply(stepfunctions.CLOUDFORMATION_STATE_MACHINES_EXECUTE)
    apply(stepfunctions.EXECUTION_NAME_DEFAULT)
    apply(stepfunctions.DEFINITION_PARSED_ONCE)
    apply(awslambda.CLOUDFORMATION_LAYERS)
    apply(awslambda.FUNCTION_ERROR_UNHANDLED)
    apply(stepfunctions.IN_PROCESS_CALLS, role_client=task_client)
    return applied()
