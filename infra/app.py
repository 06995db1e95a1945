"""The CDK app: `cdk synth` (cdk.json runs `python -m infra.app`), `-c env=local|prod`.

build_app()               the app with cdk.json's context (tests, scripts)
build_app({"env": "prod"})  another environment
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App

from infra.config import (
    ACCOUNT_CONTEXT_KEY,
    ENV_CONTEXT_KEY,
    ENVIRONMENTS_CONTEXT_KEY,
    config_from_context,
    read_cdk_json_context,
)
from infra.nag import add_nag_checks
from infra.stacks.pipelines_stack import PipelinesStack


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
    add_nag_checks(app)
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
