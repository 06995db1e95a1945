"""Lambda: the deployed code runs (the one invocation seam), errors reported as the Python
runtime reports them, layers honoured by CloudFormation, and moto's per-record Kinesis
delivery off (the emulator's poller delivers in batches)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.awslambda.models import LambdaBackend, LambdaFunction, LayerVersion

from pablo.local.moto_patches.registry import Patch, Replacement


def _run_deployed_code(invoke: Callable[[Any, Any], Any]) -> list[Replacement]:
    """Every invocation runs `invoke(function, event)` -> (payload, errored, log tail).

    Why: moto runs Lambda code only in Docker, which this machine has not. Every caller goes
    through `LambdaFunction._invoke_lambda` (Invoke, Step Functions tasks, SNS, S3
    notifications, event source mappings, custom resources): the emulator's runtime
    (`pablo.local.lambda_runtime`) answers there with the deployed zip and layers.
    """

    def _invoke_lambda(fn: Any, event: Any = None) -> Any:
        return invoke(fn, event)

    return [Replacement(LambdaFunction, "_invoke_lambda", _invoke_lambda)]


RUN_DEPLOYED_CODE = Patch("lambda-run-deployed-code", "lambda", _run_deployed_code)


def _cloudformation_layers() -> list[Replacement]:
    """`AWS::Lambda::Function` `Layers` are honoured by CloudFormation.

    Why: moto's CloudFormation handler copies a fixed list of properties that leaves out
    `Layers`, so a deployed function would run without its layer (the shared dependencies)
    and fail to import them. Also, `Ref` to an `AWS::Lambda::LayerVersion` must give its
    ARN, as in AWS; moto's LayerVersion has no physical id, so Ref gave the object itself.
    """
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

    return [
        Replacement(LayerVersion, "physical_resource_id", property(lambda self: self.arn)),
        Replacement(
            LambdaFunction,
            "create_from_cloudformation_json",
            classmethod(create_from_cloudformation_json),
        ),
    ]


CLOUDFORMATION_LAYERS = Patch("cloudformation-lambda-layers", "lambda", _cloudformation_layers)


def _function_error_unhandled() -> list[Replacement]:
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

    return [Replacement(LambdaFunction, "invoke", invoke)]


FUNCTION_ERROR_UNHANDLED = Patch(
    "lambda-function-error-unhandled", "lambda", _function_error_unhandled
)


def _no_per_record_kinesis_delivery() -> list[Replacement]:
    """moto no longer invokes mapped functions record by record.

    Why: no API turns it off: `Stream.put_record` calls `LambdaBackend.send_kinesis_message`
    for every record of every mapped stream, which would invoke the function a second time,
    once per record, outside BatchSize and every retry rule. The emulator's poller
    (`pablo.local.esm`) delivers instead.
    """

    def deliver_nothing(self: LambdaBackend, *args: Any, **kwargs: Any) -> None:
        return None

    return [Replacement(LambdaBackend, "send_kinesis_message", deliver_nothing)]


NO_PER_RECORD_KINESIS_DELIVERY = Patch(
    "lambda-no-per-record-kinesis-delivery", "lambda", _no_per_record_kinesis_delivery
)
