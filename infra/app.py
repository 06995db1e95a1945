"""The CDK app: `cdk synth` (cdk.json runs `python -m infra.app`), `-c env=local|prod`.

build_app()               the app with cdk.json's context (tests, scripts)
build_app({"env": "prod"})  another environment
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_cdk import App

from infra.config import (
    ACCOUNT_CONTEXT_KEY,
    ENV_CONTEXT_KEY,
    ENVIRONMENTS_CONTEXT_KEY,
    config_from_context,
    read_cdk_json_context,
)
from infra.constructs.alarms import InventoryAlarms
from infra.constructs.engagement import install as install_engagement
from infra.constructs.executive import install as install_executive
from infra.constructs.experiments import install as install_experiments
from infra.constructs.growth import install as install_growth
from infra.constructs.landing_inventory import install as install_landing_inventory
from infra.constructs.oncall import install as install_oncall
from infra.constructs.profit import install as install_profit
from infra.constructs.saved_queries import install as install_saved_queries
from infra.nag import add_nag_checks
from infra.stacks.pipelines_stack import PipelinesStack

# Pipelines register here as they are written: each takes the stack and adds its
# constructs with `platform=stack.platform`.
PipelineInstaller = Callable[[PipelinesStack], None]
PIPELINES: list[PipelineInstaller] = []
PIPELINES.append(install_landing_inventory)
PIPELINES.append(install_engagement)
PIPELINES.append(install_profit)
PIPELINES.append(install_growth)
PIPELINES.append(install_saved_queries)
PIPELINES.append(install_executive)
PIPELINES.append(install_experiments)
PIPELINES.append(install_oncall)


def build_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None
) -> tuple[App, PipelinesStack]:
    """The app and its one stack, with cdk.json's context under `context` overrides.

    Under the CDK CLI the CLI's context (cdk.json plus `-c`) arrives through the
    environment and wins over these defaults.
    """
    app = App(context={**read_cdk_json_context(), **(context or {})}, outdir=outdir)
    config = config_from_context(
        {
            key: app.node.try_get_context(key)
            for key in (ENV_CONTEXT_KEY, ENVIRONMENTS_CONTEXT_KEY, ACCOUNT_CONTEXT_KEY)
        }
    )
    stack = PipelinesStack(app, config=config)
    for install in PIPELINES:
        install(stack)
    # After the pipelines: every alarm of the inventory, on the metrics they publish.
    InventoryAlarms(stack, "Alarms", platform=stack.platform)
    add_nag_checks(app)
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
