"""IAM enforcement in the emulator (`pablo local up --enforce-iam`, `pablo demo --enforce-iam`).

moto checks every request against IAM once `INITIAL_NO_AUTH_ACTION_COUNT` is reached: the
request's access key must belong to a user or an assumed role, and that principal's policies
must allow the action. Turned on here at start, before anything is deployed:

- the emulator's own machinery acts as an administrator: over HTTP (the CLI and demo
  clients, `pablo local deploy` and the CDK CLI) it signs with the local credentials, which
  become the access key of the emulator's own user `pablo-emulator` (allowed everything);
  inside the process (the Kinesis pollers, schedules, alarm evaluation, event deliveries,
  which call moto in process, see patches._in_process_calls) its calls are the services'
  own, as in AWS, and are not checked;
- every Lambda invocation runs with temporary credentials of the function's execution role,
  assumed in process as the Lambda service does (`role_credentials`): the function can do
  exactly what its role's policies allow.

Signatures are not verified (moto miscomputes some; see `_skip_signature_recomputation`).
What is evaluated against what: moto checks S3 requests against the bucket or object ARN and
SQS against the queue ARN; the emulator adds the ARN AWS evaluates for DynamoDB (table),
Kinesis (stream), SNS (topic), Step Functions (state machine or execution) and Glue (the
table, else the database, else the catalog), and the `cloudwatch:namespace` condition key of
PutMetricData (`_resolve_resources`). Other services' actions are checked against `*`, and
other condition keys are not supplied (a statement conditioned on them does not match).
Step Functions tasks call moto in process, so they act as the service, not yet as the state
machine's role; the fixed keys moto's interpreter signs them with belong to the
administrator, for the case where they go over HTTP.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any, Final

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.botocore_stubber import BotocoreStubber
from moto.iam.access_control import IAMPolicy, IAMRequestBase, PermissionResult
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from pablo.local.context import LOCAL_CREDENTIALS, emulator_account

PARTITION: Final = "aws"
ADMIN_USER: Final = "pablo-emulator"
ADMIN_POLICY: Final = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
# The keys moto's Step Functions interpreter signs its tasks' calls with.
STEP_FUNCTIONS_TASK_KEYS: Final = ("ak", "sk")
ROLE_SESSION_SECONDS: Final = 12 * 3600

_state = {"enforcing": False}
_lock = threading.Lock()
_in_process = threading.local()  # set while moto serves a call made inside the emulator


def enforcing() -> bool:
    return _state["enforcing"]


def enforce(account: str | None = None) -> None:
    """Create the administrator principal (in the emulator's account unless `account`),
    then switch moto's enforcement on."""
    account = account or emulator_account()
    with _lock:
        backend = iam_backends[account][PARTITION]
        if ADMIN_USER not in {user.name for user in backend.list_users("/", None, None)}:
            backend.create_user(region_name="us-east-1", user_name=ADMIN_USER, path="/")
            backend.put_user_policy(ADMIN_USER, "administrator", ADMIN_POLICY)
            local = (
                LOCAL_CREDENTIALS["aws_access_key_id"],
                LOCAL_CREDENTIALS["aws_secret_access_key"],
            )
            for key_id, secret in (local, STEP_FUNCTIONS_TASK_KEYS):
                key = backend.create_access_key(ADMIN_USER)
                key.access_key_id, key.secret_access_key = key_id, secret
        if not _state["enforcing"]:
            _exempt_in_process_calls()
            _skip_signature_recomputation()
            _resolve_resources()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        _state["enforcing"] = True


def _skip_signature_recomputation() -> None:
    """moto recomputes each request's SigV4 signature and gets some wrong over HTTP (Lambda's
    REST calls such as ListLayers from a correctly signing boto3): the signature is not
    verified. The access key must still belong to a principal (an unknown key is refused)
    and that principal's policies decide."""
    IAMRequestBase.check_signature = lambda self: None  # type: ignore[method-assign]


def _exempt_in_process_calls() -> None:
    """Calls the emulator makes inside its own process (moto's in-process route) are the
    services' own, not a principal's: they skip the check. Every request over HTTP, the
    functions' included, is checked."""
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
        if getattr(_in_process, "active", False):
            return
        authorize(self, *args, **kwargs)

    BotocoreStubber.__call__ = dispatch_in_process  # type: ignore[method-assign]
    ActionAuthenticatorMixin._authenticate_and_authorize_action = (  # type: ignore[method-assign]
        authorize_over_http
    )


def role_credentials(role_arn: str, session_name: str) -> dict[str, str]:
    """Temporary credentials of `role_arn`, as the Lambda service gets them for a function:
    assumed in process (the role trusts lambda.amazonaws.com, not the emulator's user)."""
    account = role_arn.split(":")[4] or emulator_account()
    assumed = sts_backends[account][PARTITION].assume_role(
        region_name="us-east-1",
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy="",
        duration=ROLE_SESSION_SECONDS,
        external_id="",
    )
    return {
        "AWS_ACCESS_KEY_ID": assumed.access_key_id,
        "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
        "AWS_SESSION_TOKEN": assumed.session_token,
    }


# --- what a request acts on, as AWS evaluates it -------------------------------------
#
# moto evaluates S3 and SQS requests against their resource and every other service's
# against `*`, where an Allow on a specific ARN never matches: the stack's grants (a table,
# a stream, a topic, a state machine, a Glue table) would all be denied. The emulator gives
# those services the resource AWS evaluates, so a grant is judged on its ARN: it neither
# allows more than its ARN nor is refused for naming one.

_request_conditions = threading.local()  # condition keys of the request being checked


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


# moto names an action after the signing name of its endpoint; IAM's prefix differs for some.
_IAM_PREFIXES: Final = {"monitoring": "cloudwatch"}


def _iam_action(signed: str) -> str:
    """`monitoring:PutMetricData` as IAM names it: `cloudwatch:PutMetricData`."""
    service, _, operation = signed.partition(":")
    return f"{_IAM_PREFIXES.get(service, service)}:{operation}"


def _resolve_resources() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse  # noqa: PLC0415
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415
    from moto.glue.responses import GlueResponse  # noqa: PLC0415
    from moto.kinesis.responses import KinesisResponse  # noqa: PLC0415
    from moto.sns.responses import SNSResponse  # noqa: PLC0415
    from moto.stepfunctions.responses import StepFunctionResponse  # noqa: PLC0415

    for response_class, resolver in (
        (DynamoHandler, _dynamodb_resource),
        (KinesisResponse, _kinesis_resource),
        (SNSResponse, _sns_resource),
        (StepFunctionResponse, _states_resource),
        (GlueResponse, _glue_resource),
    ):
        setattr(response_class, "_determine_resource", resolver)  # noqa: B010

    def cloudwatch_resource(response: Any) -> str:
        _request_conditions.values = _cloudwatch_conditions(response)
        return "*"

    CloudWatchResponse._determine_resource = cloudwatch_resource  # type: ignore[attr-defined]

    def check_action_permitted(self: Any, resource: str) -> None:
        """moto's check, with the request's condition keys (cloudwatch:namespace) given to
        every statement instead of none (which fails any statement with a Condition)."""
        conditions = getattr(_request_conditions, "values", None) or {}
        _request_conditions.values = None
        if self._action == "sts:GetCallerIdentity":
            return
        action = _iam_action(self._action)
        permitted = False
        for policy in self._access_key.collect_policies():
            result = IAMPolicy(policy).is_action_permitted(
                action, resource, incoming_condition_values=conditions or None
            )
            if result == PermissionResult.DENIED:
                self._raise_access_denied()
            elif result == PermissionResult.PERMITTED:
                permitted = True
        if self._is_assuming_role_operation(resource):
            permitted = permitted and self._check_role_trust_relationship(resource)
        if not permitted:
            self._raise_access_denied()

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
