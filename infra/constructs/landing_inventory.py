"""The landing inventory: an EventBridge rule on S3 "Object Created" events of the landing
bucket, and the function that records every landed file in the pipeline state table.

A second rule covers the finance bucket's `landing/` prefix (salaries, ledger). It fires
only once that bucket sends its events to EventBridge (infra/constructs/storage.py enables
it for the landing bucket only); the rule is ready for it.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.core.ingest.landing import FINANCE_LANDING_ROOT
from infra.constructs.landing_rule import landing_files_rule
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform

HANDLER = "functions.handlers.landing_inventory.handler"


class LandingInventory(Construct):
    """Attributes: `function` (PipelineFunction), `rules` (the EventBridge rules)."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        self.function = PipelineFunction(
            self,
            "Function",
            platform=platform,
            name="landing-inventory",
            handler=HANDLER,
            description="Records every file landed in the landing and finance buckets",
            timeout=Duration.seconds(30),
            memory_size_mb=256,
            state_table_access=True,
            publish_metrics=True,
        )
        buckets = platform.buckets
        self.rules = [
            self._rule("LandingFiles", bucket=buckets.landing, key_prefix=None),
            self._rule(
                "FinanceLandingFiles", bucket=buckets.finance, key_prefix=FINANCE_LANDING_ROOT
            ),
        ]

    def _rule(
        self, construct_id: str, *, bucket: s3.IBucket, key_prefix: str | None
    ) -> events.Rule:
        return landing_files_rule(
            self,
            construct_id,
            bucket=bucket,
            key_prefixes=None if key_prefix is None else [key_prefix],
            function=self.function.function,
            description=f"S3 Object Created in {construct_id} -> landing inventory",
        )
