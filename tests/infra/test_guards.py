"""Guards on the synthesized app: cdk-nag, cfn-lint, and Lambda's 250 MB unzipped limit."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3
from cfnlint.api import lint

from infra.config import STACK_NAME
from infra.lambda_build import LAMBDA_UNZIPPED_LIMIT_BYTES, directory_size, mib
from infra.nag import add_nag_checks
from tests.infra.probe_stack import PROBE_STACK_ID

# CDK writes DependsOn entries that cfn-lint considers redundant (W3005); they are harmless.
IGNORED_LINT_RULES = frozenset({"W3005"})


def test_cdk_nag_reports_no_unacknowledged_finding(synthesized):
    # given the synth of the fixture, which ran the AwsSolutions pack as a validation plugin
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    # then no plugin reported a violation (an error would already have failed synth)
    violations = [v for p in report["pluginReports"] for v in p.get("violations", [])]
    assert violations == []


def test_cdk_nag_is_live_and_fails_synth_on_an_unacknowledged_finding(tmp_path):
    # given an app with the same checks and a bucket that breaks the rules
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    s3.Bucket(stack, "Plain")
    add_nag_checks(app)
    # when it is synthesized, then synth fails and the report names the findings
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_acknowledgements_all_carry_a_reason(synthesized):
    # given every acknowledgement recorded in the construct tree's metadata
    acknowledgements = _acknowledgements(synthesized.stack) + _acknowledgements(synthesized.probe)
    assert acknowledgements, "the platform is expected to acknowledge some findings"
    # then each one names an AwsSolutions rule and explains itself
    for rule, reason in acknowledgements:
        assert "AwsSolutions-" in rule
        assert len(reason) >= 20, rule


def _acknowledgements(stack: Stack) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if "acknowledg" in entry.type.lower() and isinstance(entry.data, dict):
                found.extend((str(k), str(v)) for k, v in entry.data.items())
    return found


@pytest.mark.parametrize("stack_name", [STACK_NAME, PROBE_STACK_ID])
def test_cfn_lint_reports_no_errors(synthesized, stack_name):
    # given a synthesized template
    template = (synthesized.outdir / f"{stack_name}.template.json").read_text()
    # when cfn-lint checks it for the deployment region
    matches = lint(template, regions=[synthesized.config.region])
    # then nothing but the known-harmless W3005 is reported
    problems = [
        f"{m.rule.id} {m.message} ({m.path})"
        for m in matches
        if m.rule.id not in IGNORED_LINT_RULES
    ]
    assert problems == []


def _asset_dirs(outdir: Path, stack_name: str) -> dict[str, Path]:
    """S3 object key of each file asset -> its staged directory (or zip) in cdk.out."""
    manifest = json.loads((outdir / f"{stack_name}.assets.json").read_text())
    keys = {}
    for asset in manifest["files"].values():
        for destination in asset["destinations"].values():
            keys[destination["objectKey"]] = outdir / asset["source"]["path"]
    return keys


def _s3_key(code: dict[str, Any]) -> str:
    key = code["S3Key"]
    assert isinstance(key, str), f"unexpected asset key {key!r}"
    return key


@pytest.mark.parametrize("stack_name", [STACK_NAME, PROBE_STACK_ID])
def test_every_function_with_its_layers_fits_lambdas_unzipped_limit(synthesized, stack_name):
    # given the functions and layers of a template, and the asset directories in cdk.out
    template = json.loads((synthesized.outdir / f"{stack_name}.template.json").read_text())
    assets = _asset_dirs(synthesized.outdir, stack_name)
    resources = template["Resources"]
    layers = {
        logical_id: assets[_s3_key(r["Properties"]["Content"])]
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Lambda::LayerVersion"
    }
    for logical_id, function in resources.items():
        if function["Type"] != "AWS::Lambda::Function":
            continue
        # when the function's code and every layer it uses are measured unzipped
        parts = [assets[_s3_key(function["Properties"]["Code"])]]
        parts += [layers[ref["Ref"]] for ref in function["Properties"].get("Layers", [])]
        total = sum(_unzipped_size(p) for p in parts)
        print(f"{stack_name}/{logical_id}: {mib(total)} of {mib(LAMBDA_UNZIPPED_LIMIT_BYTES)}")
        # then the total stays under Lambda's limit
        assert total < LAMBDA_UNZIPPED_LIMIT_BYTES, f"{logical_id} is {mib(total)}"
        # and it is real: the layer holds the dependencies, the code holds `functions`
        assert (parts[0] / "functions" / "__init__.py").is_file()
        if len(parts) > 1:
            assert "python/pyarrow/__init__.py" in _zip_names(parts[1])


def _unzipped_size(asset: Path) -> int:
    """A staged asset's size as Lambda counts it: a directory's files, or a zip's entries."""
    if asset.is_dir():
        return directory_size(asset)
    with zipfile.ZipFile(asset) as archive:
        return sum(entry.file_size for entry in archive.infolist())


def _zip_names(asset: Path) -> set[str]:
    with zipfile.ZipFile(asset) as archive:
        return set(archive.namelist())


def test_the_probe_function_is_measured(synthesized):
    # The size guard above must have something to measure: the probe function with the layer.
    functions = [
        r
        for r in synthesized.probe_template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert len(functions) == 1
    assert len(functions[0]["Properties"]["Layers"]) == 1


def test_cdk_cli_synthesizes_the_prod_environment(tmp_path):
    # given the pinned CDK CLI and cdk.json (its `app` command and its environments)
    repo = Path(__file__).resolve().parents[2]
    cdk = repo / "node_modules" / ".bin" / "cdk"
    assert cdk.exists(), "the pinned CDK CLI is not installed: run `make setup`"
    # when `cdk synth -c env=prod` runs from the repository root
    result = subprocess.run(
        [str(cdk), "synth", "--quiet", "-c", "env=prod", "-o", str(tmp_path / "cdk.out")],
        cwd=repo,
        check=False,
        capture_output=True,
        text=True,
        env={
            "PATH": f"{repo / '.venv' / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_DISABLE_VERSION_CHECK": "1",
        },
        timeout=300,
    )
    # then it succeeds and the template uses the prod names, retention and bootstrap
    assert result.returncode == 0, result.stderr[-3000:]
    # and says nothing about feature flags left unset (cdk.json sets the recommended ones)
    output = result.stdout + result.stderr
    assert "feature flags are not configured" not in output, output[-3000:]
    template = json.loads((tmp_path / "cdk.out" / f"{STACK_NAME}.template.json").read_text())
    assert "BootstrapVersion" in template["Parameters"]
    buckets = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    assert all(b["Properties"]["BucketName"].startswith("pablo-prod-") for b in buckets)
    assert all(b["DeletionPolicy"] == "Retain" for b in buckets)
