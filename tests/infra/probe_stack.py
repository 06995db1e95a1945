"""A test-only stack that exercises `PipelineFunction` with a real handler and the real layer.

No pipeline function exists yet, so this stack builds one from a throw-away code asset (a
copy of `functions/` plus one small handler module) and the real dependency layer, which
is what the size guard must measure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aws_cdk import App, CliCredentialsStackSynthesizer, Duration, Environment, Stack

from functions.core.schemas import Database
from infra.config import PipelineConfig
from infra.constructs.lambda_assets import LambdaAssets
from infra.constructs.pipeline_function import PipelineFunction
from infra.constructs.platform import Platform
from infra.lambda_build import LAYER_DIR, REPO_ROOT

PROBE_STACK_ID = "PipelineFunctionProbe"
PROBE_HANDLER = "functions.handlers.probe.handler"
PROBE_MODULE = '''"""Test-only handler: proves the layer imports resolve in the packaged layout."""


def handler(event, context):
    import duckdb
    import msgspec
    import pyarrow

    return {"pyarrow": pyarrow.__version__, "duckdb": duckdb.__version__, "ok": bool(msgspec)}
'''


def make_probe_code(directory: Path) -> Path:
    """A code asset: `functions/` as the build copies it, plus the probe handler."""
    code_dir = directory / "probe-code"
    shutil.copytree(
        REPO_ROOT / "functions",
        code_dir / "functions",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (code_dir / "functions" / "handlers" / "probe.py").write_text(PROBE_MODULE, encoding="utf-8")
    return code_dir


class ProbeStack(Stack):
    def __init__(self, app: App, *, config: PipelineConfig, code_dir: Path) -> None:
        super().__init__(
            app,
            PROBE_STACK_ID,
            env=Environment(account=config.account, region=config.region),
            synthesizer=CliCredentialsStackSynthesizer(
                file_assets_bucket_name=config.file_assets_bucket
            ),
        )
        self.platform = Platform(
            self,
            "Platform",
            config=config,
            lambda_assets=LambdaAssets(code_dir=code_dir, layer_dir=LAYER_DIR),
        )
        buckets = self.platform.buckets
        self.probe = PipelineFunction(
            self,
            "Probe",
            platform=self.platform,
            name="probe",
            handler=PROBE_HANDLER,
            description="Test-only function exercising PipelineFunction",
            timeout=Duration.minutes(5),
            memory_size_mb=2048,
            ephemeral_storage_mb=4096,
            reserved_concurrency=2,
            environment={"PROBE_SETTING": "on"},
            read_buckets=[buckets.raw],
            write_buckets=[buckets.curated, buckets.quarantine],
            state_table_access=True,
            publish_alerts=True,
            glue_partition_databases=[Database.CURATED],
        )
