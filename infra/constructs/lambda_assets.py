"""Where the Lambda code and the shared dependency layer come from (built without Docker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.core.errors import ConfigurationError
from infra.lambda_build import (
    CODE_DIR,
    LAMBDA_PYTHON_VERSION,
    LAYER_DIR,
    layer_zip,
    read_layer_fingerprint,
)

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64  # the layer holds manylinux x86_64 wheels
BUILD_HINT = "run `make build/lambda/.built` (python -m infra.lambda_build) first"

if RUNTIME.name != f"python{LAMBDA_PYTHON_VERSION}":
    raise ImportError("the Lambda runtime and the layer's --python-version disagree")


@dataclass(frozen=True)
class LambdaAssets:
    """`code_dir` holds the `functions` package; `layer_dir` the layer's zip + a lock stamp."""

    code_dir: Path = field(default=CODE_DIR)
    layer_dir: Path = field(default=LAYER_DIR)

    def code(self) -> lambda_.Code:
        if not (self.code_dir / "functions").is_dir():
            raise ConfigurationError(f"no Lambda code in {self.code_dir}: {BUILD_HINT}")
        return lambda_.Code.from_asset(str(self.code_dir))

    def layer_code(self) -> lambda_.Code:
        fingerprint = read_layer_fingerprint(self.layer_dir)
        archive = layer_zip(self.layer_dir)
        if fingerprint is None or not archive.is_file():
            raise ConfigurationError(f"no Lambda layer in {self.layer_dir}: {BUILD_HINT}")
        # The build's zip, uploaded as it is (the CLI would spend seconds zipping 210 MiB),
        # and the hash of the locked set (plus the build script) is the asset hash: hashing
        # the zip on every synth would cost time and say nothing the lock does not.
        return lambda_.Code.from_asset(
            str(archive), asset_hash=fingerprint, asset_hash_type=AssetHashType.CUSTOM
        )


def dependencies_layer(
    scope: Construct, construct_id: str, *, assets: LambdaAssets
) -> lambda_.LayerVersion:
    """The one layer every pipeline function shares (`infra.lambda_build.LAYER_PACKAGES`)."""
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=assets.layer_code(),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="pyarrow, duckdb, msgspec, powertools, plotly (requirements-layer.txt)",
    )
