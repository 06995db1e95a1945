"""Answer CloudFormation custom resources for moto, so a direct stack creation completes.

`cdk deploy --method direct` is the path that works on stock moto (its change-set path
fails on a redeploy: DeleteChangeSet of a missing change set is a 500, and
DescribeChangeSet answers ValidationError where the CLI waits for ChangeSetNotFound).
On that path moto keeps a new stack CREATE_IN_PROGRESS until every custom resource's
provider Lambda calls back, and moto runs no Lambda without Docker. This responder calls
back SUCCESS for each custom resource while the CLI waits; what the custom resource was
meant to do is then done by `pablo.local.skipped` (S3 bucket notifications) or reported as
not honoured by the fidelity report. Nothing else is answered.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from pablo.local.context import LOCAL_CREDENTIALS, LOCAL_REGION
from pablo.local.live import ClientFor

CUSTOM_TYPE_PREFIX = "Custom::"
GENERIC_CUSTOM_TYPE = "AWS::CloudFormation::CustomResource"
POLL_SECONDS = 0.5


def is_custom_resource(resource_type: str) -> bool:
    return resource_type.startswith(CUSTOM_TYPE_PREFIX) or resource_type == GENERIC_CUSTOM_TYPE


def answer_success(endpoint: str, *, stack_id: str, logical_id: str) -> None:
    """POST moto's custom resource callback, signed so moto routes it to CloudFormation."""
    url = f"{endpoint.rstrip('/')}/cloudformation_{LOCAL_REGION}/cfnresponse"
    body = json.dumps(
        {
            "Status": "SUCCESS",
            "StackId": stack_id,
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": logical_id,
            "Reason": "answered by pablo local deploy",
            "Data": {},
        }
    )
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        params={"stack": stack_id},
        headers={"Content-Type": "application/json"},
    )
    credentials = Credentials(
        LOCAL_CREDENTIALS["aws_access_key_id"], LOCAL_CREDENTIALS["aws_secret_access_key"]
    )
    SigV4Auth(credentials, "cloudformation", LOCAL_REGION).add_auth(request)
    prepared = request.prepare()
    http_request = urllib.request.Request(
        prepared.url, data=body.encode(), headers=dict(prepared.headers), method="POST"
    )
    with urllib.request.urlopen(http_request, timeout=10) as response:
        response.read()


class CustomResourceResponder:
    """While running, answers every custom resource of a stack that is being created."""

    def __init__(self, endpoint: str, client_for: ClientFor, stack_name: str) -> None:
        self._endpoint = endpoint
        self._cloudformation = client_for("cloudformation")
        self._stack_name = stack_name
        self._stop = threading.Event()
        self._answered: set[tuple[str, str]] = set()
        self._thread = threading.Thread(target=self._run, name="cfn-custom-resources", daemon=True)

    @property
    def answered(self) -> int:
        return len(self._answered)

    def __enter__(self) -> CustomResourceResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._answer_pending()
            except (ClientError, BotoCoreError, ResponseParserError, OSError):
                # The stack does not exist yet, or moto fails to describe it half-created
                # (a 500 computing its outputs): ask again at the next poll.
                continue

    def _answer_pending(self) -> None:
        stacks = self._cloudformation.describe_stacks(StackName=self._stack_name)["Stacks"]
        creating = [stack for stack in stacks if stack["StackStatus"] == "CREATE_IN_PROGRESS"]
        for stack in creating:
            for logical_id in self._custom_resources():
                key = (stack["StackId"], logical_id)
                if key not in self._answered:
                    answer_success(self._endpoint, stack_id=stack["StackId"], logical_id=logical_id)
                    self._answered.add(key)

    def _custom_resources(self) -> list[str]:
        body: Any = self._cloudformation.get_template(StackName=self._stack_name)["TemplateBody"]
        template = json.loads(body) if isinstance(body, str) else body
        return [
            logical_id
            for logical_id, resource in template.get("Resources", {}).items()
            if is_custom_resource(str(resource.get("Type", "")))
        ]
