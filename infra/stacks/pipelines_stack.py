"""`PabloPipelines`: the one stack. The platform first; pipelines add constructs to it."""

from __future__ import annotations

from aws_cdk import (
    CliCredentialsStackSynthesizer,
    DefaultStackSynthesizer,
    Environment,
    IStackSynthesizer,
    Stack,
    Tags,
)
from constructs import Construct

from infra.config import PipelineConfig
from infra.constructs.lambda_assets import LambdaAssets
from infra.constructs.platform import Platform

STACK_NAME = "PabloPipelines"


def synthesizer_for(config: PipelineConfig) -> IStackSynthesizer:
    """Local: CLI credentials and a named assets bucket, so the template needs no bootstrap
    parameters or roles (the emulator has none). Elsewhere: the default bootstrap."""
    if config.synthesizer == "cli-credentials":
        return CliCredentialsStackSynthesizer(
            file_assets_bucket_name=config.file_assets_bucket_name, bucket_prefix="assets/"
        )
    return DefaultStackSynthesizer()


class PipelinesStack(Stack):
    """Attributes: `config`, `platform`. Add a pipeline with
    `SomePipeline(stack, "Some", platform=stack.platform)`."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: PipelineConfig,
        lambda_assets: LambdaAssets | None = None,
        stack_id: str = STACK_NAME,
    ) -> None:
        super().__init__(
            scope,
            stack_id,
            stack_name=STACK_NAME,
            description="Pablo Inc growth pipelines: profit, growth, engagement, executive, "
            "experiments",
            env=Environment(account=config.account, region=config.region),
            synthesizer=synthesizer_for(config),
            termination_protection=config.retain_data,
        )
        self.config = config
        Tags.of(self).add("project", "pablo-pipelines")
        Tags.of(self).add("environment", config.env_name)
        self.platform = Platform(self, "Platform", config=config, lambda_assets=lambda_assets)
