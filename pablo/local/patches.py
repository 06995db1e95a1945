"""Changes to moto 5.2.5 that the emulator needs, each with the reason it exists.

Installed once by the emulator server (`install_patches(clock)`), in its own process only.
Each patch wraps moto's function instead of copying it, so a moto upgrade that fixes the
behaviour turns the patch into a no-op rather than a conflict; the one exception replaces
three small Kinesis `Shard` methods whose algorithm is the problem (see its docstring).
"""

from __future__ import annotations

import bisect
import functools
import logging
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.config import Config
from moto import backends as moto_backends
from moto.awslambda.models import LambdaFunction, LayerVersion
from moto.core.models import botocore_stubber
from moto.core.utils import unix_time
from moto.kinesis.models import Record, Shard
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client
from moto.stepfunctions.parser.models import (
    StepFunctionsParserBackend,
    stepfunctions_parser_backends,
)

from pablo.local import iam
from pablo.local.clock import Clock

LOG = logging.getLogger(__name__)

_installed: set[str] = set()
# What moto's interpreter gives its own task clients: no SDK retry (Retry is the state
# machine's) and no client-side timeout (TimeoutSeconds is the state's).
_TASK_CONFIG: Final = Config(
    parameter_validation=False,
    retries={"max_attempts": 0, "total_max_attempts": 1},
    connect_timeout=99999999,
    read_timeout=99999999,
)


def install_patches(clock: Clock) -> list[str]:
    """Apply every patch (idempotent); returns their names for the health report."""
    patches: dict[str, Callable[[], None]] = {
        "kinesis-arrival-time-from-clock": lambda: _kinesis_arrival_from_clock(clock),
        "kinesis-shard-indexed-thread-safe": _kinesis_shard_indexed,
        "moto-module-list-cached": _moto_module_list_cached,
        "cloudformation-state-machines-execute": _cloudformation_state_machines_execute,
        "sfn-execution-name-default": _sfn_execution_name_default,
        "cloudformation-lambda-layers": _cloudformation_lambda_layers,
        "lambda-function-error-unhandled": _lambda_function_error_unhandled,
        "in-process-calls": _in_process_calls,
    }
    for name, apply in patches.items():
        if name not in _installed:
            apply()
            _installed.add(name)
    return sorted(_installed)


def _kinesis_arrival_from_clock(clock: Clock) -> None:
    """Kinesis `ApproximateArrivalTimestamp` comes from the emulator clock.

    Why: replayed clicks must arrive at simulated times, so lateness, the 48-hour freshness
    SLA and AT_TIMESTAMP iterators behave as they would on the simulated day. moto stamps
    records with wall time in `Record.__init__`; both the datetime and the epoch seconds
    (used by AT_TIMESTAMP and MillisBehindLatest) are re-stamped.
    """
    original = Record.__init__

    @functools.wraps(original)
    def stamped_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        arrival = clock.now().replace(tzinfo=None)  # moto keeps naive UTC datetimes
        self.created_at_datetime = arrival
        self.created_at = unix_time(arrival)

    Record.__init__ = stamped_init  # type: ignore[method-assign]


@dataclass
class _ShardIndex:
    """A shard's sequence numbers in order, for the `records` dict they index."""

    records: dict[int, Any]
    keys: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _shard_index(shard: Any) -> _ShardIndex:
    """The shard's index object (created once; setdefault is atomic, so two threads racing
    here share one index and one lock). Check it with `_current` under its lock."""
    index: _ShardIndex | None = shard.__dict__.get("_pablo_index")
    if index is None:
        index = shard.__dict__.setdefault("_pablo_index", _ShardIndex(shard.records))
    return index


def _current(index: _ShardIndex, shard: Any) -> list[int]:
    """The sorted sequence numbers, rebuilt if moto replaced or changed `records` behind
    the index (a split or merge moves records into new shards). Call under `index.lock`."""
    records = shard.records
    if index.records is not records or len(index.keys) != len(records):
        index.records = records
        index.keys = sorted(records)
    return index.keys


def _kinesis_shard_indexed() -> None:
    """Kinesis shards put and read records in O(log n), and safely across threads.

    Why: moto 5.2.5's `Shard.put_record` finds the last sequence number with
    `list(self.records.keys())[-1]` (a copy of every key per record put: quadratic in the
    stream's length) and `Shard.get_records` scans the shard from its first record on every
    call. With the demo's ~94k clicks that was over half the emulator's CPU. Worse, the
    scan iterates `records` while a PutRecords request on another server thread inserts
    into it: `RuntimeError: OrderedDict mutated during iteration`, a 500 to the Kinesis
    poller, which then backs off. Here each shard keeps its sequence numbers in a sorted
    list beside `records`, both changed under one lock per shard; reads bisect the list.
    Records, sequence numbers, iterators and MillisBehindLatest are as moto makes them.
    """

    Shard.put_record = shard_put_record  # type: ignore[method-assign]
    Shard.get_records = shard_get_records  # type: ignore[method-assign]
    Shard.get_max_sequence_number = shard_max_sequence_number  # type: ignore[method-assign]


def shard_put_record(self: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
    index = _shard_index(self)
    with index.lock:
        keys = _current(index, self)
        sequence_number = (keys[-1] if keys else 0) + 1
        self.records[sequence_number] = Record(
            partition_key, data, sequence_number, explicit_hash_key
        )
        keys.append(sequence_number)
    return str(sequence_number)


def shard_get_records(
    self: Any, last_sequence_id: str, limit: int | None
) -> tuple[list[Any], int, int]:
    after = int(last_sequence_id)
    index = _shard_index(self)
    with index.lock:
        keys = _current(index, self)
        start = bisect.bisect_right(keys, after)
        chosen = keys[start : start + limit if limit else None]
        results = [self.records[number] for number in chosen]
        newest = self.records[keys[-1]] if keys else None
    if not results or newest is None:
        return [], after, 0
    behind = newest.created_at - results[-1].created_at
    return results, chosen[-1], int(behind * 1000)


def shard_max_sequence_number(self: Any) -> int:
    index = _shard_index(self)
    with index.lock:
        keys = _current(index, self)
        return keys[-1] if keys else 0


def _moto_module_list_cached() -> None:
    """moto's server lists its own package directory once, not on every request.

    Why: `DomainDispatcherApplication.get_backend_for_host` asks
    `moto.backends.list_of_moto_modules()` on every request, which lists moto's folder and
    stats each of its ~190 entries: measured at about 6% of the emulator's CPU in the demo.
    The folder does not change while the server runs, so the answer is computed once.
    """
    modules = frozenset(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules


def _cloudformation_state_machines_execute() -> None:
    """State machines created by CloudFormation land in the backend that executes.

    Why: with `execute_state_machine` on, the Step Functions API uses the parser backend
    (`stepfunctions_parser_backends`), but `StateMachine.create/update/delete_from_
    cloudformation_json` look up the module global `stepfunctions_backends`, a separate
    backend that never runs anything: the API then cannot even see the deployed machines.
    Pointing that global at the parser backend makes a deployed stack's state machines run.
    """
    sfn_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]


def _sfn_execution_name_default() -> None:
    """`StartExecution` without a name gets a generated one, as in AWS.

    Why: the parser backend builds the execution ARN from the name as given, so every
    unnamed execution (and every EventBridge-started one, which passes "") gets the same
    ARN `...:None` and the second start fails with ExecutionAlreadyExists.
    """
    original = StepFunctionsParserBackend.start_execution

    @functools.wraps(original)
    def start_execution(
        self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def _cloudformation_lambda_layers() -> None:
    """`AWS::Lambda::Function` `Layers` are honoured by CloudFormation.

    Why: moto's CloudFormation handler copies a fixed list of properties that leaves out
    `Layers`, so a deployed function would run without its layer (the shared dependencies)
    and fail to import them. Also, `Ref` to an `AWS::Lambda::LayerVersion` must give its
    ARN, as in AWS; moto's LayerVersion has no physical id, so Ref gave the object itself.
    """
    LayerVersion.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]
    original = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    @functools.wraps(original)
    def create_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kw: Any
    ) -> Any:
        fn = original(cls, resource_name, cloudformation_json, *args, **kw)
        layers = cloudformation_json.get("Properties", {}).get("Layers")
        if layers and not fn.layers:
            fn.layers = fn._get_layers_data(layers)
        return fn

    LambdaFunction.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        create_from_cloudformation_json
    )


def _lambda_function_error_unhandled() -> None:
    """An exception raised by a handler is reported as `FunctionError: Unhandled`.

    Why: that is what the Python runtime returns for every error (including timeouts);
    moto says "Handled", a value AWS only uses for errors a Node callback passed on.
    Callers that branch on the header (the Kinesis poller, tests) see what AWS sends.
    """
    original = LambdaFunction.invoke

    @functools.wraps(original)
    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> Any:
        payload = original(self, body, request_headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]


def _in_process_calls() -> None:
    """AWS calls made inside the emulator (Step Functions tasks, the extensions' pollers and
    actions) reach moto in this process, not over HTTP back into this server; and Step
    Functions tasks share one client per service instead of making one per task.

    Why: moto's interpreter made a boto3 client for every Task state and sent its call over
    HTTP to this same server: 13-21 ms of emulator CPU per Lambda task, against 4.4 ms in
    process (a Map of 60 trivial Lambda tasks, run 3 times), and a demo runs about 800.
    moto's in-process route is its botocore stubber (what `mock_aws` uses): with it
    enabled, a request for an `*.amazonaws.com` URL is dispatched straight to the backend
    (one it cannot match is answered 404 here, never sent to AWS), and moto's
    `boto_client_for` targets those URLs. Extensions opt in with `EmulatorContext.
    in_process`. Clients that name the emulator's endpoint are never matched, so their
    calls go over HTTP as before. The Lambda runtime hooks moto's backend, so a Lambda
    called in process runs exactly as over HTTP. boto3 clients are thread-safe.
    """
    botocore_stubber.enabled = True
    original = sfn_boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    @functools.wraps(original)
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if iam.enforcing() and role_arn:
            # Under enforcement a task acts as the state machine's role, as in AWS.
            return iam.role_client(
                service, region, role_arn, principal=iam.STATES_PRINCIPAL, config=_TASK_CONFIG
            )
        # moto signs every task's call with the same fixed keys, whatever the credentials.
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = original(region, service)
            return clients[(region, service)]

    # Each interpreter module imported the function by name: replace every reference.
    sfn_boto_client.boto_client_for = boto_client_for
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions")
            and getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
