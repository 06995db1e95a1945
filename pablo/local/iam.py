"""IAM enforcement in the emulator (`pablo local up --enforce-iam`, `pablo demo --enforce-iam`).

moto checks every request against IAM once `INITIAL_NO_AUTH_ACTION_COUNT` is reached: the
request's access key must belong to a user or an assumed role, and that principal's policies
must allow the action. Turned on here at start, before anything is deployed:

- the emulator's own machinery acts as an administrator: over HTTP (the CLI and demo
  clients, `pablo local deploy` and the CDK CLI) it signs with the local credentials, which
  become the access key of the emulator's own user `pablo-emulator` (allowed everything);
  inside the process (schedules, alarm evaluation, the pollers' bookkeeping, which call
  moto in process, see moto_patches.stepfunctions) its calls are the services' own, as in
  AWS, and are not checked, unless a service acts as a role (below);
- every Lambda invocation runs with temporary credentials of the function's execution role,
  assumed in process as the Lambda service does (`role_credentials`): the function can do
  exactly what its role's policies allow; its Kinesis event source mapping reads the stream
  as that role too (pablo.local.esm).

Signatures are not verified (moto miscomputes some). What is evaluated against what
(`moto_patches.iam`): moto checks S3 requests against the bucket or object ARN (the
emulator: DeleteObjects against each key's, as S3 does) and SQS against the queue ARN; the
emulator adds the ARN AWS evaluates for DynamoDB (table),
Kinesis (stream), SNS (topic), Step Functions (state machine or execution), Glue (the
table, else the database, else the catalog), the `cloudwatch:namespace` condition key of
PutMetricData, Lambda (the function, qualified when the request
names a version or alias; `Invoke` is IAM's `lambda:InvokeFunction`), Athena (the
workgroup a request names, or that its queries ran in), CloudWatch alarms (the alarm) and
CloudWatch Logs (the log group). Other requests are checked against `*`, and other
condition keys are not supplied (a statement conditioned on them does not match).

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
import json
import threading
from collections import defaultdict
from typing import Any, Final

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from pablo.local import moto_patches
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
# Access keys a service acts with as a role (a state machine's, a rule target's): checked
# even in process, where the emulator's own calls are not (moto_patches.iam).
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
            moto_patches.apply(moto_patches.iam.SKIP_SIGNATURE_RECOMPUTATION)
            moto_patches.apply(
                moto_patches.iam.IN_PROCESS_CALLS_EXEMPT, is_acting_key=_acting_keys.__contains__
            )
            moto_patches.apply(moto_patches.iam.RESOURCES_AS_AWS_EVALUATES, record=_record)
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        _state["enforcing"] = True


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


def task_client(service: str, region: str, role_arn: str) -> Any:
    """Under enforcement, a client for a Step Functions task acting as its state machine's
    role; otherwise None (the task acts as the service)."""
    if not enforcing():
        return None
    return role_client(
        service,
        region,
        role_arn,
        principal=STATES_PRINCIPAL,
        config=moto_patches.stepfunctions.TASK_CONFIG,
    )


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
