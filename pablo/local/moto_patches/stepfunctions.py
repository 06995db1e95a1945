"""Step Functions: deployed state machines execute, unnamed executions get a name, and tasks
call moto in process with one client per service (or as the state machine's role)."""

from __future__ import annotations

import functools
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any, Final

from botocore.config import Config
from moto.core.models import botocore_stubber
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client
from moto.stepfunctions.parser.models import (
    StepFunctionsParserBackend,
    stepfunctions_parser_backends,
)

from pablo.local.moto_patches.registry import Patch, Replacement

# What moto's interpreter gives its own task clients: no SDK retry (Retry is the state
# machine's) and no client-side timeout (TimeoutSeconds is the state's).
TASK_CONFIG: Final = Config(
    parameter_validation=False,
    retries={"max_attempts": 0, "total_max_attempts": 1},
    connect_timeout=99999999,
    read_timeout=99999999,
)

# (service, region, role ARN) -> a client acting as that role, or None to act as the service
RoleClient = Callable[[str, str, str], Any]


def _cloudformation_state_machines_execute() -> list[Replacement]:
    """State machines created by CloudFormation land in the backend that executes.

    Why: with `execute_state_machine` on, the Step Functions API uses the parser backend
    (`stepfunctions_parser_backends`), but `StateMachine.create/update/delete_from_
    cloudformation_json` look up the module global `stepfunctions_backends`, a separate
    backend that never runs anything: the API then cannot even see the deployed machines.
    Pointing that global at the parser backend makes a deployed stack's state machines run.
    """
    return [Replacement(sfn_models, "stepfunctions_backends", stepfunctions_parser_backends)]


CLOUDFORMATION_STATE_MACHINES_EXECUTE = Patch(
    "cloudformation-state-machines-execute", "stepfunctions", _cloudformation_state_machines_execute
)


def _execution_name_default() -> list[Replacement]:
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

    return [Replacement(StepFunctionsParserBackend, "start_execution", start_execution)]


EXECUTION_NAME_DEFAULT = Patch(
    "sfn-execution-name-default", "stepfunctions", _execution_name_default
)


def _in_process_calls(role_client: RoleClient) -> list[Replacement]:
    """AWS calls made inside the emulator (Step Functions tasks, the extensions' pollers and
    actions) reach moto in this process, not over HTTP back into this server; Step Functions
    tasks share one client per service instead of making one per task, and act as the
    state machine's role when `role_client` gives a client for it (IAM enforcement).

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
    original = sfn_boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    @functools.wraps(original)
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        acting = role_client(service, region, role_arn) if role_arn else None
        if acting is not None:
            return acting
        # moto signs every task's call with the same fixed keys, whatever the credentials.
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = original(region, service)
            return clients[(region, service)]

    # Each interpreter module imported the function by name: replace every reference.
    modules = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions")
        and getattr(module, "boto_client_for", None) is original
    ]
    return [
        Replacement(botocore_stubber, "enabled", True),
        *(Replacement(module, "boto_client_for", boto_client_for) for module in modules),
    ]


IN_PROCESS_CALLS = Patch("in-process-calls", "stepfunctions", _in_process_calls)


# Parse trees kept per definition: a deployed stack has a handful of state machines, and a
# changed definition is a new text (the old tree is simply no longer asked for).
PARSE_TREES_KEPT: Final = 64


def _definition_parsed_once() -> list[Replacement]:
    """A definition's text is parsed into its grammar tree once; each execution still gets
    program objects of its own, built from that tree.

    Why: moto's interpreter parses the definition again for every execution (and again at
    CreateStateMachine), with the ANTLR grammar's pure-Python parser: 7% of the emulator's
    CPU in a demo, 83% of it building the tree and 17% the Preprocessor turning it into the
    program objects an execution runs (which hold that execution's state, so they are never
    shared). The tree is only read by the Preprocessor. A text that does not parse is never
    kept: every attempt raises the same ASLParserException.
    """
    original = AmazonStateLanguageParser.parse
    trees: dict[str, Any] = {}
    lock = threading.Lock()

    @functools.wraps(original)
    def parse(definition: str) -> tuple[Any, Any]:
        with lock:
            tree = trees.get(definition)
        if tree is None:
            program, tree = original(definition)
            with lock:
                if len(trees) >= PARSE_TREES_KEPT:
                    trees.pop(next(iter(trees)))
                trees[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

    return [Replacement(AmazonStateLanguageParser, "parse", staticmethod(parse))]


DEFINITION_PARSED_ONCE = Patch(
    "sfn-definition-parsed-once", "stepfunctions", _definition_parsed_once
)
