"""`PipelineWorkflow`: the one way pipelines define a Step Functions workflow.

The ASL comes from `state_machines/<name>.asl.json` with its `${Placeholders}` filled by
`render_asl`: `${OnCallTopicArn}` always, one `${...}` per function passed in, and any
other values the pipeline gives (`asl_values`, e.g. a template's per-grain words). The
state machine logs everything to its own log group, traces with X-Ray, may invoke exactly
the functions given and publish to the on-call topic (its Catch states alert there).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.asl import render_asl
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.nag import acknowledge

STATE_MACHINES_DIR: Final = Path(__file__).resolve().parents[2] / "state_machines"
ON_CALL_TOPIC_PLACEHOLDER: Final = "OnCallTopicArn"


class PipelineWorkflow(Construct):
    """Attributes: `state_machine`, `log_group`, `name` (the deployed state machine name)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform: Platform,
        name: str,
        functions: Mapping[str, PipelineFunction],
        timeout: Duration,
        asl_path: Path | None = None,
        asl_values: Mapping[str, str] | None = None,
    ) -> None:
        """`name` is the workflow's short name (`state_machines/<name with _>.asl.json`
        unless `asl_path` says otherwise); `functions` maps each ASL placeholder to the
        function whose ARN fills it; `asl_values` fills the template's other placeholders."""
        super().__init__(scope, construct_id)
        config = platform.config
        self.name = config.resource_name(name)
        path = asl_path or STATE_MACHINES_DIR / f"{name.replace('-', '_')}.asl.json"
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{self.name}",
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        # Any value CloudWatch accepts (validated in config), not only RetentionDays members.
        cfn_log_group = self.log_group.node.default_child
        assert isinstance(cfn_log_group, logs.CfnLogGroup)
        cfn_log_group.retention_in_days = config.log_retention_days
        values = dict(asl_values or {})
        for placeholder, function in functions.items():
            values[placeholder] = function.function.function_arn
        values[ON_CALL_TOPIC_PLACEHOLDER] = platform.topic.topic_arn
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.name,
            definition_body=sfn.DefinitionBody.from_string(render_asl(path, values)),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL),
        )
        self._grant(platform, functions)

    def _grant(self, platform: Platform, functions: Mapping[str, PipelineFunction]) -> None:
        machine = self.state_machine
        platform.topic.grant_publish(machine)
        platform.keys.data.grant(machine, "kms:Decrypt", "kms:GenerateDataKey")
        acknowledge(
            machine,
            "IAM5[Resource::*]",
            "Step Functions log delivery and X-Ray segments support no resource-level permission",
        )
        acknowledge(
            machine,
            "IAM5[Action::kms:GenerateDataKey*]",
            "Publishing to the encrypted on-call topic (CDK's key grant for SNS)",
        )
        stack = Stack.of(self)
        for function in functions.values():
            function.function.grant_invoke(machine)
            logical_id = stack.get_logical_id(
                function.function.node.default_child  # type: ignore[arg-type]
            )
            acknowledge(
                machine,
                f"IAM5[Resource::<{logical_id}.Arn>:*]",
                f"Invoking {function.name}'s versions and aliases (CDK's grant_invoke)",
            )
