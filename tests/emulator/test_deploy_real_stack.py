"""`pablo local deploy` of the real stack (PabloPipelines) into the emulator: the fidelity
report covers every resource of the template, and what moto skips exists afterwards."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from pablo.local.deploy import REPO_ROOT, assembly_dir
from tests.conftest import STACK_NAME, EmulatorServer


@pytest.fixture(scope="module")
def report(deployed_stack: EmulatorServer) -> dict[str, Any]:
    path = deployed_stack.home / "local" / "fidelity.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _template(server: EmulatorServer) -> dict[str, Any]:
    """The template the deploy synthesized (same resources as the app; see moto_template)."""
    path = assembly_dir(REPO_ROOT, server.endpoint) / f"{STACK_NAME}.template.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_report_classifies_every_resource_of_the_real_template(
    deployed_stack: EmulatorServer, report: dict[str, Any]
) -> None:
    # Given the real stack deployed and its fidelity report
    template = {k: v["Type"] for k, v in _template(deployed_stack)["Resources"].items()}
    # Then every resource has a status, and nothing failed to be created
    reported = {row["logical_id"]: row["resource_type"] for row in report["resources"]}
    assert reported == template
    assert set(report["types"]) == set(template.values())
    failures = [
        row
        for row in report["resources"]
        if any(note.startswith("not created") for note in row["not_honoured"])
    ]
    assert failures == []


def test_skipped_kinds_of_the_real_stack_exist_through_their_apis(
    deployed_stack: EmulatorServer,
) -> None:
    # Given the real template's counts of the kinds moto skips
    counts = Counter(r["Type"] for r in _template(deployed_stack)["Resources"].values())
    glue = deployed_stack.client("glue")
    # Then the emulator has as many Glue tables, workgroups and alarms as the template
    tables = sum(
        len(glue.get_tables(DatabaseName=db["Name"])["TableList"])
        for db in glue.get_databases()["DatabaseList"]
    )
    assert tables == counts["AWS::Glue::Table"]
    workgroups = deployed_stack.client("athena").list_work_groups()["WorkGroups"]
    assert (
        len([w for w in workgroups if w["Name"] != "primary"]) == counts["AWS::Athena::WorkGroup"]
    )
    alarms = deployed_stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert len(alarms) == counts["AWS::CloudWatch::Alarm"]
