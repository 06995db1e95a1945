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
What moto evaluates (checked on moto 5.2.5): S3 requests against the bucket or object ARN,
SQS against the queue ARN; every other service's actions against the resource `*`, so an
Allow on a specific ARN (a DynamoDB table, a Glue database, a state machine) does not match
and the call is denied; a statement with a Condition is treated as not matching either.
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
from moto.iam.access_control import IAMRequestBase
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from pablo.local.context import LOCAL_ACCOUNT, LOCAL_CREDENTIALS

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


def enforce(account: str = LOCAL_ACCOUNT) -> None:
    """Create the administrator principal, then switch moto's enforcement on."""
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
    account = role_arn.split(":")[4] or LOCAL_ACCOUNT
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
