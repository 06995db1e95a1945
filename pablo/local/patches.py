"""Changes to moto 5.2.5 that the emulator needs, each with the reason it exists.

Installed once by the emulator server (`install_patches(clock)`), in its own process only.
Each patch wraps moto's function instead of copying it, so a moto upgrade that fixes the
behaviour turns the patch into a no-op rather than a conflict.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from moto.awslambda.models import LambdaFunction, LayerVersion
from moto.core.utils import unix_time
from moto.kinesis.models import Record
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.models import (
    StepFunctionsParserBackend,
    stepfunctions_parser_backends,
)

from pablo.local.clock import Clock

LOG = logging.getLogger(__name__)

_installed: set[str] = set()


def install_patches(clock: Clock) -> list[str]:
    """Apply every patch (idempotent); returns their names for the health report."""
    patches: dict[str, Callable[[], None]] = {
        "kinesis-arrival-time-from-clock": lambda: _kinesis_arrival_from_clock(clock),
        "cloudformation-state-machines-execute": _cloudformation_state_machines_execute,
        "sfn-execution-name-default": _sfn_execution_name_default,
        "cloudformation-lambda-layers": _cloudformation_lambda_layers,
        "lambda-function-error-unhandled": _lambda_function_error_unhandled,
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
