"""One synth per test session: the real app (cdk.json context, env=local) plus a probe stack.

cdk-nag runs inside that synth (a validation plugin): a finding that is not acknowledged
fails the fixture with the findings listed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk.assertions import Template

from infra.app import build_app
from infra.config import STACK_NAME, PipelineConfig
from infra.lambda_build import BUILT_MARKER, REPO_ROOT
from infra.stacks.pipelines_stack import PipelinesStack
from tests.infra.probe_stack import PROBE_STACK_ID, ProbeStack, make_probe_code


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    stack: PipelinesStack
    probe: ProbeStack
    template: dict[str, Any]
    probe_template: dict[str, Any]
    assertions: Template

    @property
    def config(self) -> PipelineConfig:
        return self.stack.config

    def resources(self, cfn_type: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
        source = template if template is not None else self.template
        return {k: v for k, v in source["Resources"].items() if v["Type"] == cfn_type}


def _ensure_lambda_build() -> None:
    """The probe and the size guard need the real layer; build it as `make` would."""
    if not BUILT_MARKER.exists():
        subprocess.run([sys.executable, "-m", "infra.lambda_build"], cwd=REPO_ROOT, check=True)


def _validation_summary(outdir: Path) -> str:
    report_path = outdir / "validation-report.json"
    if not report_path.exists():
        return "(no validation report written)"
    report = json.loads(report_path.read_text())
    lines = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            paths = [c["constructPath"] for c in violation.get("violatingConstructs", [])]
            lines.append(f"{violation['ruleName']}: {violation['description']} at {paths}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    _ensure_lambda_build()
    work = tmp_path_factory.mktemp("cdk")
    outdir = work / "cdk.out"
    app, stack = build_app(outdir=str(outdir))
    probe = ProbeStack(app, config=stack.config, code_dir=make_probe_code(work))
    try:
        app.synth()
    except RuntimeError as exc:
        pytest.fail(f"synth failed: {exc}\n{_validation_summary(outdir)}")
    template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    probe_template = json.loads((outdir / f"{PROBE_STACK_ID}.template.json").read_text())
    return Synthesized(
        outdir=outdir,
        stack=stack,
        probe=probe,
        template=template,
        probe_template=probe_template,
        assertions=Template.from_json(template),
    )
