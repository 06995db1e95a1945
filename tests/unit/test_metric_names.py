"""Alarmed metric names are spelled once (functions/core/metric_names.py): every alarm in the
inventory watches a name some handler publishes, and no module spells a name again."""

from __future__ import annotations

import ast
from pathlib import Path

from functions.core import metric_names
from functions.core.monitor.alarm_inventory import INVENTORY, AlarmSpec

ROOT = Path(__file__).resolve().parents[2]
NAMES = {
    value: name
    for name, value in vars(metric_names).items()
    if name.isupper() and isinstance(value, str)
}


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _constants_used(path: Path) -> set[str]:
    """The metric_names.<CONSTANT> attributes a module reads."""
    tree = ast.parse(path.read_text())
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "metric_names"
    }


def _own_metric_alarms() -> list[AlarmSpec]:
    """Alarms on the pipelines' own metrics (not on an AWS service's, e.g. Lambda errors,
    which AWS publishes under its own namespace and names)."""
    return [a for a in INVENTORY if getattr(a, "namespace", None) is None]


def test_every_alarm_watches_a_defined_name_that_a_handler_publishes() -> None:
    published = set().union(*(_constants_used(p) for p in _modules("functions/handlers")))
    assert _own_metric_alarms(), "the inventory has alarms on the pipelines' metrics"
    for alarm in _own_metric_alarms():
        assert alarm.metric_name in NAMES, f"{alarm.key}: {alarm.metric_name} not in metric_names"
        assert NAMES[alarm.metric_name] in published, (
            f"{alarm.key} watches {alarm.metric_name}, which no handler publishes"
        )


def test_no_module_spells_an_alarmed_metric_name_again() -> None:
    # given every Python module of the deployed code, the tools and the CDK app
    spelled: list[str] = []
    for path in _modules("functions", "pablo", "infra"):
        if path == ROOT / "functions/core/metric_names.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in NAMES:
                spelled.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    # then none of them writes a name out: each imports it
    assert spelled == []


def test_the_check_sees_a_name_spelled_twice() -> None:
    # the scan above would flag this very line's kind of literal (a guard that it can fail)
    tree = ast.parse(f'METRIC = "{metric_names.CLICKS_RECEIVED}"')
    literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert literals == [metric_names.CLICKS_RECEIVED] and literals[0] in NAMES
