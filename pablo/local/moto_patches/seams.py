"""Every moto internal the emulator patches or relies on, with what it relies on (the canary).

moto is pinned, but its internals are not an API: an upgrade may move a class, rename a
function or change a signature, and a patch written against the old shape then fails at
run time, deep in a demo, or silently does nothing. `tests/emulator/test_moto_patches.py` checks
each seam below against the installed moto and fails with a message naming the seam, the
moto version and what was expected; it also checks that every moto name the code under
`pablo/` imports and every attribute it touches on one is listed here, so this list
cannot fall behind the code. It also checks that the installed moto is
`pablo.local.moto_patches.MOTO_VERSION`, the version every patch was written against.

A seam is a module, a dotted attribute path inside it, and optionally:
- `params`: the parameter names the patch calls or replaces it with, in order (`self`
  included for methods; a classmethod's `cls` is not part of its signature);
- `instance_attributes`: attributes the code reads on its instances, checked as
  `self.<name>` assignments in the class's source (its own or a base class's).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Seam:
    module: str
    attribute: str
    used_by: str  # the module (and patch) that depends on it
    params: tuple[str, ...] | None = None
    instance_attributes: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.attribute}" if self.attribute else self.module


SEAMS: tuple[Seam, ...] = (
    # pablo.local.moto_patches: core, cloudformation, dynamodb, kinesis, awslambda, stepfunctions
    Seam("moto.backends", "list_of_moto_modules", "moto_patches.core: moto-module-list-cached", ()),
    Seam(
        "moto.core.serialize",
        "parse_to_aware_datetime",
        "moto_patches.core: moto-timestamps-parsed-directly",
        ("value",),
    ),
    Seam(
        "moto.cloudformation.parsing",
        "ResourceMap.__getitem__",
        "moto_patches.cloudformation: cloudformation-resource-map-thread-safe",
        ("self", "key"),
    ),
    Seam(
        "moto.dynamodb.responses",
        "DynamoHandler.call_action",
        "moto_patches.dynamodb: dynamodb-requests-atomic",
        ("self",),
    ),
    Seam(
        "moto.dynamodb.models.table",
        "Table.query",
        "moto_patches.dynamodb: dynamodb-query-reads-its-partition (index_name 8th)",
        (
            "self",
            "hash_key",
            "range_comparison",
            "range_objs",
            "limit",
            "exclusive_start_key",
            "scan_index_forward",
            "projection_expressions",
            "index_name",
            "consistent_read",
            "filter_expression",
            "hash_key_conditions",
            "range_key_conditions",
        ),
    ),
    Seam(
        "moto.dynamodb.models.table",
        "Table.all_items",
        "moto_patches.dynamodb: dynamodb-query-reads-its-partition",
        ("self",),
    ),
    Seam(
        "moto.dynamodb.models.table",
        "Table",
        "moto_patches.dynamodb: items by hash key, then range key",
        instance_attributes=("items", "range_key_attr"),
    ),
    Seam(
        "moto.core.serialize",
        "BaseJSONSerializer._serialize_type_structure",
        "moto_patches.dynamodb: dynamodb-attribute-values-serialized-directly",
        ("self", "serialized", "value", "shape", "key"),
        ("service_model", "_value_picker"),
    ),
    Seam(
        "moto.core.serialize",
        "BaseJSONSerializer._default_serialize",
        "moto_patches.dynamodb: how a serialized value is set",
        ("self", "serialized", "value", "shape", "key"),
    ),
    Seam(
        "moto.core.serialize",
        "BaseJSONSerializer.get_serialized_name",
        "moto_patches.dynamodb: the name a member is written under",
        ("self", "shape", "default_name"),
    ),
    Seam(
        "moto.core.serialize",
        "BaseJSONSerializer._base64",
        "moto_patches.dynamodb: how a blob is written",
        ("self", "value"),
    ),
    Seam(
        "moto.core.serialize",
        "XFormedAttributePicker",
        "moto_patches.dynamodb: the picker moto's actions serialize with",
        instance_attributes=("alias_providers", "response_transformers"),
    ),
    Seam(
        "moto.core.serialize",
        "DEFAULT_ALIAS_PROVIDERS",
        "moto_patches.dynamodb and core: the aliases a plain dict is asked for",
    ),
    Seam(
        "moto.core.serialize",
        "XFormedAttributePicker.get_possible_keys",
        "moto_patches.core: moto-dict-keys-listed-once-per-answer",
        ("self", "context"),
    ),
    Seam(
        "moto.core.serialize",
        "AttributePickerContext.__init__",
        "moto_patches.core: moto-dict-keys-listed-once-per-answer (obj, key, shape read)",
        ("self", "obj", "key", "shape", "operation_model", "service_model", "key_path"),
    ),
    Seam(
        "moto.awslambda.models",
        "LambdaFunction.create_from_cloudformation_json",
        "moto_patches.awslambda: cloudformation-lambda-layers",
        ("resource_name", "cloudformation_json", "account_id", "region_name"),
        ("layers",),
    ),
    Seam(
        "moto.awslambda.models",
        "LambdaFunction._get_layers_data",
        "moto_patches.awslambda: cloudformation-lambda-layers",
        ("self", "layers_versions_arns"),
    ),
    Seam(
        "moto.awslambda.models",
        "LambdaFunction.invoke",
        "moto_patches.awslambda: lambda-function-error-unhandled",
        ("self", "body", "request_headers", "response_headers"),
    ),
    Seam(
        "moto.awslambda.models",
        "LayerVersion",
        "moto_patches.awslambda: cloudformation-lambda-layers (Ref is the ARN); lambda_runtime",
        instance_attributes=("arn", "code_bytes", "code_digest"),
    ),
    Seam(
        "moto.core.models",
        "botocore_stubber.enabled",
        "moto_patches.stepfunctions: in-process-calls",
    ),
    Seam("moto.core", "DEFAULT_ACCOUNT_ID", "context.emulator_account"),
    Seam("moto.core.utils", "unix_time", "moto_patches.kinesis, moto_patches.s3", ("dt",)),
    Seam(
        "moto.kinesis.models",
        "Record.__init__",
        "moto_patches.kinesis: kinesis-arrival-time-from-clock",
        ("self", "partition_key", "data", "sequence_number", "explicit_hash_key"),
        ("created_at", "created_at_datetime"),
    ),
    Seam(
        "moto.kinesis.models",
        "Shard.put_record",
        "moto_patches.kinesis: kinesis-shard-indexed-thread-safe",
        ("self", "partition_key", "data", "explicit_hash_key"),
        ("records",),
    ),
    Seam(
        "moto.kinesis.models",
        "Shard.get_records",
        "moto_patches.kinesis: kinesis-shard-indexed-thread-safe",
        ("self", "last_sequence_id", "limit"),
    ),
    Seam(
        "moto.kinesis.models",
        "Shard.get_max_sequence_number",
        "moto_patches.kinesis: kinesis-shard-indexed-thread-safe",
        ("self",),
    ),
    Seam(
        "moto.stepfunctions.models",
        "stepfunctions_backends",
        "moto_patches.stepfunctions: cloudformation-state-machines-execute",
    ),
    Seam(
        "moto.stepfunctions.parser.asl.utils.boto_client",
        "boto_client_for",
        "moto_patches.stepfunctions: in-process-calls",
        ("region", "service", "state_credentials"),
    ),
    Seam(
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend.start_execution",
        "moto_patches.stepfunctions: sfn-execution-name-default",
        ("self", "state_machine_arn", "name"),
    ),
    Seam(
        "moto.stepfunctions.parser.models",
        "stepfunctions_parser_backends",
        "moto_patches.stepfunctions, server.running_executions",
    ),
    Seam(
        "moto.stepfunctions.parser.asl.parse.asl_parser",
        "AmazonStateLanguageParser.parse",
        "moto_patches.stepfunctions: sfn-definition-parsed-once",
        ("definition",),
    ),
    Seam(
        "moto.stepfunctions.parser.asl.parse.preprocessor",
        "Preprocessor.visit",
        "moto_patches.stepfunctions: sfn-definition-parsed-once (the program from a tree)",
        ("self", "tree"),
    ),
    # pablo.local.moto_patches.cloudwatch and pablo.local.alarms
    Seam("moto.cloudwatch.models", "cloudwatch_backends", "alarms: the alarm store"),
    Seam(
        "moto.cloudwatch.models",
        "CloudWatchBackend",
        "alarms: reads its alarms in process",
        instance_attributes=("alarms",),
    ),
    Seam(
        "moto.cloudwatch.models",
        "CloudWatchBackend.get_metric_data",
        "alarms: the datapoints an alarm evaluates",
        ("self", "queries", "start_time", "end_time", "scan_by"),
    ),
    Seam(
        "moto.cloudwatch.models",
        "Alarm",
        "alarms: described_alarm, state_updates, stamp_transition_time",
        instance_attributes=(
            *("name", "alarm_arn", "actions_enabled", "ok_actions", "alarm_actions"),
            *("insufficient_data_actions", "dimensions", "metric_data_queries", "rule"),
            *("description", "configuration_updated_timestamp", "state_value", "state_reason"),
            *("state_reason_data", "state_updated_timestamp", "metric_name", "namespace"),
            *("statistic", "extended_statistic", "period", "unit", "evaluation_periods"),
            *("datapoints_to_alarm", "threshold", "comparison_operator", "treat_missing_data"),
            *("evaluate_low_sample_count_percentile", "history"),
        ),
    ),
    Seam(
        "moto.cloudwatch.models",
        "utcnow",
        "moto_patches.cloudwatch: cloudwatch-metric-times-from-clock",
        (),
    ),
    Seam(
        "moto.cloudwatch.responses",
        "CloudWatchResponse",
        "moto_patches.cloudwatch: cloudwatch-describe-alarm-history",
    ),
    Seam(
        "moto.core.responses",
        "ActionResult.__init__",
        "moto_patches.cloudwatch",
        ("self", "result"),
    ),
    # pablo.local.moto_patches: kinesis and awslambda, for pablo.local.esm
    Seam(
        "moto.awslambda.models",
        "LambdaBackend.send_kinesis_message",
        "moto_patches.awslambda: lambda-no-per-record-kinesis-delivery",
        ("self", "function_name", "kinesis_stream"),
    ),
    Seam(
        "moto.kinesis.models",
        "KinesisBackend.put_record",
        "moto_patches.kinesis: kinesis-wake-pollers-on-put (reads stream_arn, stream_name)",
        ("self", "stream_arn", "stream_name"),
    ),
    Seam(
        "moto.kinesis.models",
        "KinesisBackend.put_records",
        "moto_patches.kinesis: kinesis-wake-pollers-on-put (reads stream_arn, stream_name)",
        ("self", "stream_arn", "stream_name", "records"),
    ),
    Seam(
        "moto.kinesis.models",
        "KinesisBackend.describe_stream",
        "moto_patches.kinesis: kinesis-wake-pollers-on-put",
        ("self", "stream_arn", "stream_name"),
    ),
    Seam(
        "moto.kinesis.models",
        "Stream",
        "moto_patches.kinesis: kinesis-wake-pollers-on-put",
        instance_attributes=("arn",),
    ),
    # pablo.local.moto_patches: events and s3, for pablo.local.event_targets
    Seam(
        "moto.events.models",
        "Rule.send_to_targets",
        "moto_patches.events: events-lambda-and-states-targets",
        ("self", "original_event", "transform_input"),
        ("targets", "event_pattern", "state"),
    ),
    Seam(
        "moto.events.models",
        "EventPattern.matches_event",
        "moto_patches.events: rules match as moto does",
        ("self", "event"),
    ),
    Seam("moto.events.models", "EventPattern.get_pattern", "moto_patches.events", ("self",)),
    Seam(
        "moto.events.models",
        "EventPattern",
        "moto_patches.events: events-s3-event-flattened-once",
        instance_attributes=("_pattern",),
    ),
    Seam(
        "moto.events.models",
        "EventPattern._flatten_dict",
        "moto_patches.events: events-s3-event-flattened-once (a staticmethod)",
        ("node", "prefix", "result"),
    ),
    Seam(
        "moto.events.models",
        "EventPattern._does_event_match",
        "moto_patches.events: events-s3-event-flattened-once",
        ("self", "event_flat", "pattern_node", "prefix"),
    ),
    Seam(
        "moto.s3.notifications",
        "_send_event_bridge_message",
        "moto_patches.events: events-s3-event-flattened-once (one event offered to every rule)",
        ("account_id", "bucket", "event_name", "key"),
    ),
    Seam(
        "moto.s3.notifications",
        "_detail_type",
        "moto_patches.events: events-s3-event-flattened-once (a function of the name)",
        ("event_name",),
    ),
    Seam(
        "moto.s3.notifications",
        "unix_time",
        "moto_patches.s3: s3-notification-times-from-clock",
        ("dt",),
    ),
    Seam(
        "moto.s3.notifications",
        "iso_8601_datetime_with_milliseconds",
        "moto_patches.s3: s3-notification-times-from-clock",
        ("value",),
    ),
    # pablo.local.moto_patches.awslambda and pablo.local.lambda_runtime
    Seam(
        "moto.awslambda.models",
        "LambdaFunction._invoke_lambda",
        "moto_patches.awslambda: lambda-run-deployed-code",
        ("self", "event"),
        (
            "code_bytes",
            "handler",
            "environment_vars",
            "layers",
            "timeout",
            "memory_size",
            "function_name",
            "code",
            "code_digest",
            "region",
            "account_id",
            "partition",
        ),
    ),
    Seam("moto.awslambda.models", "lambda_backends", "lambda_runtime: layer contents"),
    Seam(
        "moto.awslambda.models",
        "LambdaBackend.layers_versions_by_arn",
        "lambda_runtime: layer contents",
        ("self", "layer_version_arn"),
    ),
    Seam("moto.s3.models", "s3_backends", "lambda_runtime: code still in S3"),
    Seam("moto.s3.models", "FakeKey", "lambda_runtime", instance_attributes=("value",)),
    Seam(
        "moto.s3.models",
        "S3Backend.get_object",
        "lambda_runtime: code still in S3",
        ("self", "bucket_name", "key_name"),
    ),
    # pablo.local.server
    Seam("moto.core.config", "default_user_config", "server: Step Functions execute"),
    Seam(
        "moto.moto_server.threaded_moto_server",
        "ThreadedMotoServer.__init__",
        "server: the control API in front of moto",
        ("self", "ip_address", "port", "verbose"),
        ("_ip_address", "_port", "_server_ready_event", "_server"),
    ),
    Seam(
        "moto.moto_server.threaded_moto_server",
        "ThreadedMotoServer._server_entry",
        "server: replaced to wrap moto's WSGI app",
        ("self",),
    ),
    Seam(
        "moto.moto_server.werkzeug_app",
        "DomainDispatcherApplication.__init__",
        "server",
        ("self", "create_app"),
    ),
    Seam("moto.moto_server.werkzeug_app", "MotoRequestHandler", "server"),
    Seam("moto.moto_server.werkzeug_app", "create_backend_app", "server", ("service",)),
    # pablo.local.schedules
    Seam("moto.events.models", "events_backends", "schedules: rules of the default bus"),
    Seam("moto.events.models", "EventBus", "schedules", instance_attributes=("rules",)),
    Seam("moto.scheduler.models", "scheduler_backends", "schedules: enabled schedules"),
    Seam(
        "moto.scheduler.models",
        "ScheduleGroup",
        "schedules",
        instance_attributes=("name", "schedules"),
    ),
    # pablo.local.moto_patches.athena: the query calls answered by DuckDB (pablo.local.athena)
    *(
        Seam(
            "moto.athena.responses",
            f"AthenaResponse.{operation}",
            "moto_patches.athena: athena-queries-run",
            ("self",),
        )
        for operation in (
            "start_query_execution",
            "get_query_execution",
            "get_query_results",
            "stop_query_execution",
            "list_query_executions",
        )
    ),
    Seam("moto.athena.responses", "AthenaResponse._get_param", "athena"),
    Seam("moto.athena.responses", "AthenaResponse.athena_backend", "athena"),
    Seam("moto.athena.models", "AthenaBackend.get_work_group", "athena", ("self", "name")),
    # pablo.local.moto_patches.iam and pablo.local.iam: enforcement on the ARNs AWS uses
    Seam(
        "moto.core.authorization",
        "ActionAuthenticatorMixin._authenticate_and_authorize_action",
        "moto_patches.iam: iam-in-process-calls-exempt",
        ("self", "iam_request_cls", "resource"),
    ),
    Seam("moto.core.authorization", "ActionAuthenticatorMixin.request_count", "iam"),
    Seam(
        "moto.s3.models",
        "S3Backend.list_objects",
        "moto_patches.s3: s3-list-prefix-fast",
        ("self", "bucket", "prefix", "delimiter", "marker", "max_keys"),
    ),
    Seam(
        "moto.s3.models",
        "FakeBucket",
        "moto_patches.s3: s3-list-prefix-fast (a listing reads `keys.items()` alone)",
        instance_attributes=("keys", "name"),
    ),
    Seam("moto.s3.responses", "S3Response", "moto_patches.iam: s3-delete-objects-per-key"),
    Seam(
        "moto.s3.responses",
        "S3Response._authenticate_and_authorize_s3_action",
        "moto_patches.iam: s3-delete-objects-per-key",
        ("self", "bucket_name", "key_name"),
    ),
    Seam(
        "moto.s3.responses",
        "S3Response.is_delete_keys",
        "moto_patches.iam: s3-delete-objects-per-key",
        ("self",),
    ),
    Seam(
        "moto.core.botocore_stubber",
        "BotocoreStubber.__call__",
        "moto_patches.iam: iam-in-process-calls-exempt",
        ("self", "event_name", "request"),
    ),
    Seam(
        "moto.iam.access_control",
        "IAMRequestBase.check_action_permitted",
        "moto_patches.iam: iam-resources-as-aws-evaluates",
        ("self", "resource"),
    ),
    Seam(
        "moto.iam.access_control", "IAMRequestBase.check_signature", "moto_patches.iam", ("self",)
    ),
    Seam("moto.iam.access_control", "IAMPolicy", "iam"),
    Seam("moto.iam.access_control", "PermissionResult.DENIED", "iam"),
    Seam("moto.iam.access_control", "PermissionResult.PERMITTED", "iam"),
    Seam("moto.iam.models", "iam_backends", "iam: the administrator principal"),
    Seam("moto.sts.models", "sts_backends", "iam: role credentials for functions"),
    Seam("moto.settings", "INITIAL_NO_AUTH_ACTION_COUNT", "iam: enforcement on"),
    *(
        Seam(module, response, "moto_patches.iam: iam-resources-as-aws-evaluates")
        for module, response in (
            ("moto.dynamodb.responses", "DynamoHandler"),
            ("moto.glue.responses", "GlueResponse"),
            ("moto.kinesis.responses", "KinesisResponse"),
            ("moto.sns.responses", "SNSResponse"),
            ("moto.stepfunctions.responses", "StepFunctionResponse"),
            ("moto.cloudwatch.responses", "CloudWatchResponse"),
            ("moto.awslambda.responses", "LambdaResponse"),
            ("moto.logs.responses", "LogsResponse"),
        )
    ),
    Seam(
        "moto.iam.models",
        "IAMBackend.get_role_by_arn",
        "iam: a role's trust of the service acting as it",
        ("self", "arn"),
    ),
    Seam(
        "moto.iam.models",
        "Role",
        "iam: trust and policies of a role",
        instance_attributes=("assume_role_policy_document",),
    ),
    Seam(
        "moto.iam.models",
        "IAMBackend.list_attached_role_policies",
        "iam: grants never used",
        ("self", "role_name"),
    ),
    Seam("moto.iam.models", "IAMBackend.get_role_policy", "iam", ("self", "role_name")),
    Seam("moto.iam.models", "IAMBackend.list_role_policies", "iam", ("self", "role_name")),
    Seam(
        "moto.iam.access_control",
        "AssumedRoleAccessKey",
        "moto_patches.iam: the role a request acts as (usage report)",
        instance_attributes=("_owner_role_name",),
    ),
    Seam(
        "moto.s3.notifications",
        "_invoke_awslambda",
        "moto_patches.s3: s3-lambda-notifications-permitted",
        ("account_id", "event_body", "fn_arn", "region_name"),
    ),
    # pablo.local.service_metrics
    Seam("moto.sqs.models", "sqs_backends", "service_metrics: queue depth"),
    Seam("moto.sqs.models", "sqs_backends.items", "service_metrics: every account's queues"),
)


# Attributes the emulator adds to moto's classes (nothing of moto's to check: a moto that
# defines one itself is overridden, as the patch's docstring says).
ADDED: tuple[tuple[str, str], ...] = (
    ("moto.awslambda.models", "LayerVersion.physical_resource_id"),
    ("moto.cloudwatch.responses", "CloudWatchResponse.describe_alarm_history"),
    ("moto.athena.responses", "AthenaResponse.batch_get_query_execution"),
    *(
        (module, f"{response}._determine_resource")
        for module, response in (
            ("moto.athena.responses", "AthenaResponse"),
            ("moto.awslambda.responses", "LambdaResponse"),
            ("moto.cloudwatch.responses", "CloudWatchResponse"),
            ("moto.dynamodb.responses", "DynamoHandler"),
            ("moto.glue.responses", "GlueResponse"),
            ("moto.kinesis.responses", "KinesisResponse"),
            ("moto.logs.responses", "LogsResponse"),
            ("moto.sns.responses", "SNSResponse"),
            ("moto.stepfunctions.responses", "StepFunctionResponse"),
        )
    ),
)


def moto_version() -> str:
    try:
        return str(importlib.import_module("moto").__version__)
    except ImportError:
        return "(not installed)"


def resolve(seam: Seam) -> Any:
    """The object the seam names; ImportError or AttributeError when it moved."""
    target: Any = importlib.import_module(seam.module)
    for part in filter(None, seam.attribute.split(".")):
        target = getattr(target, part)
    return target


def problems(seam: Seam, *, version: str | None = None) -> list[str]:
    """What no longer matches in the installed moto; empty when the seam holds."""
    moved = f"moto {version or moto_version()} moved {seam.qualified_name} (used by {seam.used_by})"
    try:
        target = resolve(seam)
    except (ImportError, AttributeError) as exc:
        return [f"{moved}: {type(exc).__name__}: {exc}"]
    found: list[str] = []
    if seam.params is not None:
        found.extend(_signature_problems(seam, target, moved))
    if seam.instance_attributes:
        found.extend(_attribute_problems(seam, target, moved))
    return found


def _signature_problems(seam: Seam, target: Any, moved: str) -> list[str]:
    expected = seam.params or ()
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError) as exc:
        return [f"{moved}: not callable with a signature ({exc})"]
    named = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if tuple(named[: len(expected)]) != expected:
        return [f"{moved}: expected params ({', '.join(expected)}), found ({', '.join(named)})"]
    return []


def _attribute_problems(seam: Seam, target: Any, moved: str) -> list[str]:
    owner = target if inspect.isclass(target) else _owning_class(seam)
    if owner is None:
        return [f"{moved}: no class to read instance attributes from"]
    source = "\n".join(_class_source(cls) for cls in inspect.getmro(owner))
    missing = [
        name
        for name in seam.instance_attributes
        if not hasattr(owner, name)  # a property or class attribute
        and f"self.{name} =" not in source
        and f"self.{name}:" not in source
    ]
    if missing:
        return [f"{moved}: instances no longer set {', '.join(missing)}"]
    return []


def _owning_class(seam: Seam) -> type | None:
    module = importlib.import_module(seam.module)
    owner = getattr(module, seam.attribute.split(".")[0], None)
    return owner if inspect.isclass(owner) else None


def _class_source(cls: type) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):  # builtins (object) have no source
        return ""


def all_problems() -> list[str]:
    version = moto_version()
    return [problem for seam in SEAMS for problem in problems(seam, version=version)]
