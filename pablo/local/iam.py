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
PutMetricData (`_resolve_resources`), Lambda (the function, qualified when the request
names a version or alias; `Invoke` is IAM's `lambda:InvokeFunction`), Athena (the
workgroup a request names), CloudWatch alarms (the alarm) and CloudWatch Logs (the log
group). Other requests are checked against `*`, and other condition keys are not supplied
(a statement conditioned on them does not match).

Services that act for the stack act as AWS's do:
- a Step Functions task acts as its state machine's role (`role_client`, with the role's
  trust of states.amazonaws.com checked): in process, but checked like any request;
- an EventBridge rule or schedule delivers to a Lambda function only when the function's
  resource-based policy allows the service principal from that rule (`check_invoke`,
  lambda:AddPermission / CDK's targets.LambdaFunction), and to any other target as the
  target's role (EventBridge Scheduler: always as its role);
- every action a role is allowed or refused is recorded (`usage_report`), so a run can list
  the grants no request needed (`pablo demo --enforce-iam`, `GET /pablo-api/iam/usage`).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import threading
from collections import defaultdict
from typing import Any, Final
from urllib.parse import unquote

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
LAMBDA_PRINCIPAL: Final = "lambda.amazonaws.com"
STATES_PRINCIPAL: Final = "states.amazonaws.com"
EVENTS_PRINCIPAL: Final = "events.amazonaws.com"
SCHEDULER_PRINCIPAL: Final = "scheduler.amazonaws.com"
S3_PRINCIPAL: Final = "s3.amazonaws.com"


class AccessDeniedError(Exception):
    """A service refused to act for the stack: the role does not trust it, or a function's
    resource-based policy does not let it invoke."""


_state = {"enforcing": False}
_lock = threading.Lock()
_in_process = threading.local()  # set while moto serves a call made inside the emulator
# Access keys a service acts with as a role (a state machine's, a rule target's): checked
# even in process, where the emulator's own calls are not.
_acting_keys: set[str] = set()
_acting: dict[tuple[str, str], dict[str, str]] = {}  # (role ARN, principal) -> credentials
_role_clients: dict[tuple[Any, ...], Any] = {}


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
    services' own, not a principal's: they skip the check, unless a service makes them as a
    role (`role_client`). Every request over HTTP, the functions' included, is checked."""
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
        if getattr(_in_process, "active", False) and _access_key_id(self) not in _acting_keys:
            return
        authorize(self, *args, **kwargs)

    BotocoreStubber.__call__ = dispatch_in_process  # type: ignore[method-assign]
    ActionAuthenticatorMixin._authenticate_and_authorize_action = (  # type: ignore[method-assign]
        authorize_over_http
    )


def _access_key_id(response: Any) -> str | None:
    """The access key a request is signed with (SigV4's `Credential=KEY/...`)."""
    header = str(response.headers.get("Authorization") or "")
    match = re.search(r"Credential=([^/,\s]+)/", header)
    return match.group(1) if match else None


def _role(role_arn: str) -> Any:
    account = role_arn.split(":")[4] or emulator_account()
    return iam_backends[account][PARTITION].get_role_by_arn(role_arn)


def trusts(role_arn: str, principal: str) -> bool:
    """Whether the role's trust policy lets the service `principal` assume it."""
    document = _role(role_arn).assume_role_policy_document
    policy = json.loads(document) if isinstance(document, str) else document
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        services = (statement.get("Principal") or {}).get("Service", [])
        services = services if isinstance(services, list) else [services]
        if (
            statement.get("Effect") == "Allow"
            and any(_matches(a, "sts:AssumeRole") for a in actions)
            and principal in services
        ):
            return True
    return False


def role_credentials(
    role_arn: str, session_name: str, *, principal: str = LAMBDA_PRINCIPAL
) -> dict[str, str]:
    """Temporary credentials of `role_arn`, as the service `principal` gets them (Lambda for
    a function, Step Functions for a state machine): assumed in process, once the role's
    trust policy is checked to name that service (the emulator's user is not trusted)."""
    if not trusts(role_arn, principal):
        raise AccessDeniedError(f"{role_arn} does not trust {principal} to assume it")
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


def _acting_credentials(role_arn: str, principal: str) -> dict[str, str]:
    """One session per role and service for the emulator's life (moto finds a session by a
    scan of every session: one per call would slow every later request)."""
    with _lock:
        key = (role_arn, principal)
        if key not in _acting:
            session = principal.split(".", maxsplit=1)[0]
            _acting[key] = role_credentials(role_arn, f"{session}-service", principal=principal)
            _acting_keys.add(_acting[key]["AWS_ACCESS_KEY_ID"])
        return _acting[key]


def role_client(
    service: str,
    region: str,
    role_arn: str,
    *,
    principal: str,
    endpoint: str | None = None,
    config: Any = None,
) -> Any:
    """A boto3 client that acts as `role_arn` for the service `principal`. With no
    endpoint it reaches moto in process, where its requests are still checked."""
    import boto3  # noqa: PLC0415

    key = (service, region, role_arn, principal, endpoint, id(config))
    credentials = _acting_credentials(role_arn, principal)
    with _lock:
        if key not in _role_clients:
            _role_clients[key] = boto3.client(
                service,
                endpoint_url=endpoint,
                region_name=region,
                aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=credentials["AWS_SESSION_TOKEN"],
                config=config,
            )
        return _role_clients[key]


# --- resource-based policies: a service invoking a function ---------------------------


def check_invoke(lambda_client: Any, function_arn: str, *, principal: str, source_arn: str) -> None:
    """Raise AccessDeniedError unless the function's resource-based policy lets the service
    `principal` invoke it from `source_arn` (a rule's ARN), as AWS checks before EventBridge
    or S3 delivers. A no-op without enforcement."""
    if not enforcing():
        return
    try:
        document = lambda_client.get_policy(FunctionName=function_arn)["Policy"]
    except lambda_client.exceptions.ResourceNotFoundException:
        document = '{"Statement": []}'
    account = function_arn.split(":")[4]
    context = {"aws:sourcearn": source_arn, "aws:sourceaccount": account}
    if not resource_policy_allows(
        json.loads(document), "lambda:InvokeFunction", function_arn, principal, context
    ):
        _record(function_arn, "lambda:InvokeFunction", source_arn, allowed=False)
        raise AccessDeniedError(
            f"the resource-based policy of {function_arn} does not allow {principal} "
            f"to invoke it from {source_arn} (lambda:AddPermission)"
        )
    _record(function_arn, "lambda:InvokeFunction", source_arn, allowed=True)


def resource_policy_allows(
    policy: dict[str, Any], action: str, resource: str, principal: str, context: dict[str, str]
) -> bool:
    """A resource-based policy's answer for a service principal: an Allow statement naming
    the service, the action and the resource, whose conditions (ArnLike, ArnEquals,
    StringEquals, StringLike on the request's context keys) all hold; a matching Deny wins."""
    allowed = False
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        services = (statement.get("Principal") or {}).get("Service", [])
        services = services if isinstance(services, list) else [services]
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        resources = statement.get("Resource", "*")
        resources = resources if isinstance(resources, list) else [resources]
        if not (
            principal in services
            and any(_matches(a, action) for a in actions)
            and any(_matches(r, resource) or _matches(r, f"{resource}:$LATEST") for r in resources)
            and _conditions_hold(statement.get("Condition") or {}, context)
        ):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = True
    return allowed


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, pairs in conditions.items():
        for key, expected in pairs.items():
            actual = context.get(key.lower())
            values = expected if isinstance(expected, list) else [expected]
            if actual is None:
                return False
            if operator in ("ArnLike", "StringLike"):
                if not any(_matches(str(v), actual) for v in values):
                    return False
            elif operator in ("ArnEquals", "StringEquals"):
                if actual not in values:
                    return False
            else:  # an operator this check does not know: the statement does not apply
                return False
    return True


def _matches(pattern: str, value: str) -> bool:
    """IAM's wildcard match (`*`, `?`), case-insensitive as for actions."""
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


# --- what each role used ---------------------------------------------------------------

_usage: dict[str, dict[str, set[tuple[str, str]]]] = defaultdict(
    lambda: {"allowed": set(), "denied": set()}
)


def _record(principal: str, action: str, resource: str, *, allowed: bool) -> None:
    with _lock:
        _usage[principal]["allowed" if allowed else "denied"].add((action, resource))


def usage_report() -> dict[str, dict[str, list[str]]]:
    """Per role that acted: the actions it was allowed (`used`), refused (`denied`), and the
    grants of its policies no allowed request matched (`unused`: action on resources).
    Per function resource-based policy: the invocations allowed or refused."""
    with _lock:
        usage = {name: {k: set(v) for k, v in kinds.items()} for name, kinds in _usage.items()}
    report: dict[str, dict[str, list[str]]] = {}
    for name, kinds in sorted(usage.items()):
        entry = {
            "used": sorted({f"{action} {resource}" for action, resource in kinds["allowed"]}),
            "denied": sorted({f"{action} {resource}" for action, resource in kinds["denied"]}),
        }
        if not name.startswith("arn:"):
            entry["unused"] = unused_grants(name, kinds["allowed"])
        report[name] = entry
    return report


def unused_grants(role_name: str, used: set[tuple[str, str]]) -> list[str]:
    """Each Allow (action pattern, its resources) of the role's policies that no allowed
    request matched."""
    backend = iam_backends[emulator_account()][PARTITION]
    documents = [
        backend.get_role_policy(role_name, policy_name)[1]
        for policy_name in backend.list_role_policies(role_name)
    ]
    attached, _ = backend.list_attached_role_policies(role_name)
    documents += [
        next(version.document for version in policy.versions if version.is_default)
        for policy in attached
    ]
    unused = []
    for document in documents:
        policy = json.loads(document) if isinstance(document, str) else document
        statements = policy.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            resources = statement.get("Resource", "*")
            resources = resources if isinstance(resources, list) else [resources]
            for pattern in actions:
                if not any(
                    _matches(pattern, action) and any(_matches(r, resource) for r in resources)
                    for action, resource in used
                ):
                    unused.append(f"{pattern} {' '.join(sorted(resources))}")
    return sorted(set(unused))


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
    """The workgroup a request names (StartQueryExecution, GetWorkGroup, ...). A request by
    query id is judged against `*`: the emulator does not look up the query's workgroup."""
    name = _param(response, "WorkGroup") or _param(response, "Name")
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


def _resolve_resources() -> None:
    from moto.athena.responses import AthenaResponse  # noqa: PLC0415
    from moto.awslambda.responses import LambdaResponse  # noqa: PLC0415
    from moto.cloudwatch.responses import CloudWatchResponse  # noqa: PLC0415
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415
    from moto.glue.responses import GlueResponse  # noqa: PLC0415
    from moto.kinesis.responses import KinesisResponse  # noqa: PLC0415
    from moto.logs.responses import LogsResponse  # noqa: PLC0415
    from moto.sns.responses import SNSResponse  # noqa: PLC0415
    from moto.stepfunctions.responses import StepFunctionResponse  # noqa: PLC0415

    for response_class, resolver in (
        (DynamoHandler, _dynamodb_resource),
        (KinesisResponse, _kinesis_resource),
        (SNSResponse, _sns_resource),
        (StepFunctionResponse, _states_resource),
        (GlueResponse, _glue_resource),
        (CloudWatchResponse, _cloudwatch_resource),
        (LambdaResponse, _lambda_resource),
        (AthenaResponse, _athena_resource),
        (LogsResponse, _logs_resource),
    ):
        setattr(response_class, "_determine_resource", resolver)  # noqa: B010

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
                if getattr(self._access_key, "_owner_role_name", None):
                    _record(self._access_key._owner_role_name, action, resource, allowed=False)
                self._raise_access_denied()
            elif result == PermissionResult.PERMITTED:
                permitted = True
        if self._is_assuming_role_operation(resource):
            permitted = permitted and self._check_role_trust_relationship(resource)
        role = getattr(self._access_key, "_owner_role_name", None)
        if role:
            _record(role, action, resource, allowed=permitted)
        if not permitted:
            self._raise_access_denied()

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
