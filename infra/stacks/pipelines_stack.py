"""`PabloPipelines`: the one stack, composed here. The platform first, then each pipeline
on it, the saved queries, the on-call tools, and last the alarms of the inventory (on the
metrics and resources the pipelines created)."""

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

from infra.config import STACK_NAME, PipelineConfig
from infra.constructs.alarms import InventoryAlarms
from infra.constructs.engagement import EngagementPipeline
from infra.constructs.executive import ExecutivePipeline
from infra.constructs.experiments import ExperimentsPipeline
from infra.constructs.growth import GrowthPipeline
from infra.constructs.lambda_assets import LambdaAssets
from infra.constructs.landing_inventory import LandingInventory
from infra.constructs.oncall import OnCallTools
from infra.constructs.platform import Platform
from infra.constructs.profit import ProfitPipeline
from infra.constructs.saved_queries import SavedQueries


def synthesizer_for(config: PipelineConfig) -> IStackSynthesizer:
    """Local: CLI credentials and a named assets bucket, so the template needs no bootstrap
    parameters or roles (the emulator has none). Elsewhere: the default bootstrap."""
    if config.synthesizer == "cli-credentials":
        return CliCredentialsStackSynthesizer(
            file_assets_bucket_name=config.file_assets_bucket_name, bucket_prefix="assets/"
        )
    return DefaultStackSynthesizer()


class PipelinesStack(Stack):
    """Attributes: `config`, `platform`, one per construct it composes (`landing_inventory`,
    `engagement`, `profit`, `growth`, `saved_queries`, `executive`, `experiments`, `oncall`)
    and `alarms`. A new pipeline is a construct taking `platform=`, instantiated here."""

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
        self.platform = platform = Platform(
            self, "Platform", config=config, lambda_assets=lambda_assets
        )
        self.landing_inventory = LandingInventory(self, "LandingInventory", platform=platform)
        self.engagement = EngagementPipeline(self, "Engagement", platform=platform)
        self.profit = ProfitPipeline(self, "Profit", platform=platform)
        self.growth = GrowthPipeline(self, "Growth", platform=platform)
        self.saved_queries = SavedQueries(self, "SavedQueries", platform=platform)
        self.executive = ExecutivePipeline(self, "Executive", platform=platform)
        self.experiments = ExperimentsPipeline(self, "Experiments", platform=platform)
        self.oncall = OnCallTools(self, "OnCall", platform=platform)
        # After the pipelines: every alarm of the inventory, on the metrics they publish.
        self.alarms = InventoryAlarms(self, "Alarms", platform=platform)
