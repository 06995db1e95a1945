"""IAM enforcement: requests judged on the resource and action AWS evaluates, the
emulator's own in-process calls exempt, and every decision on a role reported.

moto evaluates S3 and SQS requests against their resource and every other service's
against `*`, where an Allow on a specific ARN never matches: the stack's grants (a table,
a stream, a topic, a state machine, a Glue table, a function) would all be denied. The
emulator gives those services the resource AWS evaluates, so a grant is judged on its ARN:
it neither allows more than its ARN nor is refused for naming one. What the emulator does
with enforcement (who acts as whom) is `pablo.local.iam`.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote

import xmltodict
from moto.athena.responses import AthenaResponse
from moto.awslambda.responses import LambdaResponse
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.botocore_stubber import BotocoreStubber
from moto.dynamodb.responses import DynamoHandler
from moto.glue.responses import GlueResponse
from moto.iam.access_control import IAMPolicy, IAMRequestBase, PermissionResult
from moto.kinesis.responses import KinesisResponse
from moto.logs.responses import LogsResponse
from moto.s3.responses import S3Response
from moto.sns.responses import SNSResponse
from moto.stepfunctions.responses import StepFunctionResponse

from pablo.local.moto_patches import athena
from pablo.local.moto_patches.registry import Patch, Replacement

# (role name, IAM action, resource, allowed): told every decision on a role's request
Record = Callable[..., None]

_in_process = threading.local()  # set while moto serves a call made inside the emulator
_request_conditions = threading.local()  # condition keys of the request being checked


def _skip_signature_recomputation() -> list[Replacement]:
    """Signatures are not re-verified.

    Why: moto recomputes each request's SigV4 signature and gets some wrong over HTTP
    (Lambda's REST calls such as ListLayers from a correctly signing boto3). The access key
    must still belong to a principal (an unknown key is refused) and that principal's
    policies decide.
    """
    return [Replacement(IAMRequestBase, "check_signature", lambda self: None)]


SKIP_SIGNATURE_RECOMPUTATION = Patch(
    "iam-skip-signature-recomputation", "iam", _skip_signature_recomputation
)


def _in_process_calls_exempt(is_acting_key: Callable[[str | None], bool]) -> list[Replacement]:
    """Calls the emulator makes inside its own process (moto's in-process route) skip the
    check, unless their access key `is_acting_key` (a service acting as a role).

    Why: they are the services' own (the pollers, schedules, alarm evaluation, deliveries),
    not a principal's, as in AWS. Every request over HTTP, the functions' included, is
    checked.
    """
    dispatch = BotocoreStubber.__call__
    authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action

    @functools.wraps(dispatch)
    def dispatch_in_process(self: Any, *args: Any, **kwargs: Any) -> Any:
        was = getattr(_in_process, "active", False)
        _in_process.active = True
        try:
            return dispatch(self, *args, **kwargs)
        finally:
            _in_process.active = was

    @functools.wraps(authorize)
    def authorize_over_http(self: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(_in_process, "active", False) and not is_acting_key(_access_key_id(self)):
            return
        authorize(self, *args, **kwargs)

    return [
        Replacement(BotocoreStubber, "__call__", dispatch_in_process),
        Replacement(
            ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authorize_over_http
        ),
    ]


IN_PROCESS_CALLS_EXEMPT = Patch("iam-in-process-calls-exempt", "iam", _in_process_calls_exempt)


def _access_key_id(response: Any) -> str | None:
    """The access key a request is signed with (SigV4's `Credential=KEY/...`)."""
    header = str(response.headers.get("Authorization") or "")
    match = re.search(r"Credential=([^/,\s]+)/", header)
    return match.group(1) if match else None


def _json_body(response: Any) -> dict[str, Any]:
    """The request's parameters: moto's parsed ones when it has them, else the JSON body."""
    for candidate in (getattr(response, "params", None), getattr(response, "body", None)):
        if isinstance(candidate, dict) and candidate:
            return candidate
        if isinstance(candidate, str | bytes) and candidate:
            try:
                parsed = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                return parsed
    return {}


def _param(response: Any, name: str) -> str | None:
    value = _json_body(response).get(name)
    if value is None:
        try:
            value = response._get_param(name)
        except Exception:  # a protocol whose parameters this request does not carry
            value = None
    return value if isinstance(value, str) and value else None


def _dynamodb_resource(response: Any) -> str:
    body = _json_body(response)
    name = body.get("TableName")
    if name is None and isinstance(body.get("RequestItems"), dict) and body["RequestItems"]:
        name = next(iter(body["RequestItems"]))
    if name is None and isinstance(body.get("TransactItems"), list) and body["TransactItems"]:
        first: Any = next(iter(body["TransactItems"][0].values()), {})
        name = first.get("TableName") if isinstance(first, dict) else None
    if not isinstance(name, str):
        return "*"
    if name.startswith("arn:"):
        return name
    return f"arn:aws:dynamodb:{response.region}:{response.current_account}:table/{name}"


def _kinesis_resource(response: Any) -> str:
    arn = _param(response, "StreamARN")
    if arn:
        return arn
    name = _param(response, "StreamName")
    if not name:
        return "*"
    return f"arn:aws:kinesis:{response.region}:{response.current_account}:stream/{name}"


def _sns_resource(response: Any) -> str:
    return _param(response, "TopicArn") or "*"


def _states_resource(response: Any) -> str:
    return _param(response, "executionArn") or _param(response, "stateMachineArn") or "*"


def _glue_resource(response: Any) -> str:
    region, account = response.region, response.current_account
    database, table = _param(response, "DatabaseName"), _param(response, "TableName")
    if database and table:
        return f"arn:aws:glue:{region}:{account}:table/{database}/{table}"
    if database:
        return f"arn:aws:glue:{region}:{account}:database/{database}"
    return f"arn:aws:glue:{region}:{account}:catalog"


def _cloudwatch_conditions(response: Any) -> dict[str, str]:
    namespace = _param(response, "Namespace")
    return {"cloudwatch:namespace": namespace} if namespace else {}


def _cloudwatch_resource(response: Any) -> str:
    """An alarm's ARN for a request on one alarm; `*` for PutMetricData (CloudWatch has no
    resource for it: the namespace condition scopes it) and for listings."""
    _request_conditions.values = _cloudwatch_conditions(response)
    names = [n for n in (_param(response, "AlarmName"),) if n]
    if not names:
        return "*"
    return f"arn:aws:cloudwatch:{response.region}:{response.current_account}:alarm:{names[0]}"


_LAMBDA_PATH: Final = re.compile(r"/functions/(?P<name>[^/]+)")


def _lambda_resource(response: Any) -> str:
    """The function a Lambda request names, qualified by its `Qualifier` when it has one."""
    match = _LAMBDA_PATH.search(unquote(str(getattr(response, "path", "") or "")))
    if not match:
        return "*"
    name = match.group("name")
    qualifier = (getattr(response, "querystring", None) or {}).get("Qualifier")
    qualifier = qualifier[0] if isinstance(qualifier, list) and qualifier else qualifier
    if not name.startswith("arn:"):
        name = f"arn:aws:lambda:{response.region}:{response.current_account}:function:{name}"
    if qualifier and name.count(":") == 6:
        name = f"{name}:{qualifier}"
    return name


def _athena_resource(response: Any) -> str:
    """The workgroup a request names (StartQueryExecution, GetWorkGroup, ...), or the one
    its queries ran in (GetQueryExecution, BatchGetQueryExecution, GetQueryResults, ...:
    athena.QUERY_WORKGROUPS); `*` for a query the emulator did not start, or queries of
    several workgroups in one batch."""
    name = _param(response, "WorkGroup") or _param(response, "Name")
    if not name:
        ids = _json_body(response).get("QueryExecutionIds") or [
            _param(response, "QueryExecutionId")
        ]
        found = {athena.QUERY_WORKGROUPS.get(str(i)) for i in ids if i}
        name = found.pop() if len(found) == 1 else None
    if not name:
        return "*"
    return f"arn:aws:athena:{response.region}:{response.current_account}:workgroup/{name}"


def _logs_resource(response: Any) -> str:
    group = _param(response, "logGroupName")
    if not group:
        return "*"
    return f"arn:aws:logs:{response.region}:{response.current_account}:log-group:{group}:*"


# moto names an action after the signing name of its endpoint and the API operation; IAM's
# prefix or action differs for some.
_IAM_PREFIXES: Final = {"monitoring": "cloudwatch"}
_IAM_ACTIONS: Final = {
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:InvokeWithResponseStream": "lambda:InvokeFunction",
}


def _iam_action(signed: str) -> str:
    """`monitoring:PutMetricData` as IAM names it: `cloudwatch:PutMetricData`; Lambda's
    `Invoke` is `lambda:InvokeFunction`."""
    service, _, operation = signed.partition(":")
    action = f"{_IAM_PREFIXES.get(service, service)}:{operation}"
    return _IAM_ACTIONS.get(action, action)


def _resources_as_aws_evaluates(record: Record) -> list[Replacement]:
    """Each request is judged on the resource AWS evaluates (`_determine_resource` of each
    service's responses), under the action's IAM name, with the request's condition keys
    (cloudwatch:namespace); every decision on a role's request goes to `record`.

    Why: moto gives every statement no condition keys (which fails any statement with a
    Condition) and judges all but S3 and SQS against `*`.
    """

    def check_action_permitted(self: Any, resource: str) -> None:
        conditions = getattr(_request_conditions, "values", None) or {}
        _request_conditions.values = None
        if self._action == "sts:GetCallerIdentity":
            return
        action = _iam_action(self._action)
        role = getattr(self._access_key, "_owner_role_name", None)
        permitted = False
        for policy in self._access_key.collect_policies():
            result = IAMPolicy(policy).is_action_permitted(
                action, resource, incoming_condition_values=conditions or None
            )
            if result == PermissionResult.DENIED:
                if role:
                    record(role, action, resource, allowed=False)
                self._raise_access_denied()
            elif result == PermissionResult.PERMITTED:
                permitted = True
        if self._is_assuming_role_operation(resource):
            permitted = permitted and self._check_role_trust_relationship(resource)
        if role:
            record(role, action, resource, allowed=permitted)
        if not permitted:
            self._raise_access_denied()

    resolvers: tuple[tuple[type, Callable[[Any], str]], ...] = (
        (DynamoHandler, _dynamodb_resource),
        (KinesisResponse, _kinesis_resource),
        (SNSResponse, _sns_resource),
        (StepFunctionResponse, _states_resource),
        (GlueResponse, _glue_resource),
        (CloudWatchResponse, _cloudwatch_resource),
        (LambdaResponse, _lambda_resource),
        (AthenaResponse, _athena_resource),
        (LogsResponse, _logs_resource),
    )
    original_s3 = S3Response._authenticate_and_authorize_s3_action

    def authorize_s3(
        self: Any, bucket_name: str | None = None, key_name: str | None = None
    ) -> None:
        # DeleteObjects is s3:DeleteObject on each key named, as AWS judges it; moto judges
        # it on the bucket, refusing every key to a role granted the bucket's objects. A
        # refused key refuses the whole batch (each key in the answer's Errors), where S3
        # would still delete the others.
        if key_name is None and bucket_name and self.is_delete_keys():
            for key in _deleted_keys(self.body):
                original_s3(self, bucket_name=bucket_name, key_name=key)
            return
        original_s3(self, bucket_name=bucket_name, key_name=key_name)

    return [
        *(Replacement(cls, "_determine_resource", resolver) for cls, resolver in resolvers),
        Replacement(IAMRequestBase, "check_action_permitted", check_action_permitted),
        Replacement(S3Response, "_authenticate_and_authorize_s3_action", authorize_s3),
    ]


def _deleted_keys(body: bytes | str | None) -> list[str]:
    """The keys a DeleteObjects body names."""
    if not body:
        return []
    parsed = xmltodict.parse(body, strip_whitespace=False)
    objects = (parsed.get("Delete") or {}).get("Object") or []
    objects = objects if isinstance(objects, list) else [objects]
    return [str(o["Key"]) for o in objects if isinstance(o, dict) and "Key" in o]


RESOURCES_AS_AWS_EVALUATES = Patch(
    "iam-resources-as-aws-evaluates", "iam", _resources_as_aws_evaluates
)
