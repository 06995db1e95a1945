"""The freshness gate's view of upstream backfills on the emulator's Step Functions: a
backfill still running is found by its name, a finished one is not."""

from __future__ import annotations

import json

from functions.adapters import workflows
from functions.core.report import executive_layout
from tests.conftest import EmulatorServer
from tests.support import unique_name, wait_for

WAITING_MACHINE = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 2, "End": True}},
}


def test_a_running_backfill_is_found_by_its_name_prefix_until_it_ends(
    emulator_server: EmulatorServer,
) -> None:
    # given an upstream workflow with one backfill of run R running, and another run's
    sfn = emulator_server.client("stepfunctions")
    role = emulator_server.client("iam").create_role(
        RoleName=unique_name("sfn-role"), AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    machine = sfn.create_state_machine(
        name=unique_name("upstream"), definition=json.dumps(WAITING_MACHINE), roleArn=role
    )["stateMachineArn"]
    for name in ("weekly-r-engagement-backfill-aaa", "weekly-other-engagement-backfill-bbb"):
        assert workflows.start_execution(sfn, machine=machine, name=name, payload={})

    # when the gate asks for run R's running backfill, now and after it has ended
    prefix = "weekly-r-engagement-backfill"
    running = executive_layout.named_with(
        workflows.executions(sfn, machine=machine, status="RUNNING"), prefix
    )

    def ended() -> bool:
        listed = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")
        return not listed["executions"]

    wait_for(ended, "the backfills to end", timeout=30)
    after = executive_layout.named_with(
        workflows.executions(sfn, machine=machine, status="RUNNING"), prefix
    )

    # then it names R's backfill (not the other run's) while it runs, and none once it ended
    assert running == "weekly-r-engagement-backfill-aaa"
    assert after is None
    # and starting the same name again is refused as already started (the idempotency key)
    name = "weekly-r-engagement-backfill-aaa"
    assert not workflows.start_execution(sfn, machine=machine, name=name, payload={})
