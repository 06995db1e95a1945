"""functions/core by stage: a stage's modules reach another stage only through core's root."""

from __future__ import annotations

import ast
from pathlib import Path

import functions.core

CORE = Path(functions.core.__file__).parent
STAGES = ("ingest", "transform", "report", "monitor")


def _imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every module `path` (a file under `root`, functions/core)
    imports; `from P import N` counts as P.N too, since N may be a module."""
    package = ".".join(("functions", "core", *path.relative_to(root).parent.parts))
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def _stage_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["functions", "core"] and len(parts) > 2 and parts[2] in STAGES:
        return parts[2]
    return None


def cross_stage_imports(root: Path = CORE) -> list[str]:
    problems = []
    for stage in STAGES:
        for path in sorted((root / stage).rglob("*.py")):
            for line, module in _imported_modules(path, root):
                other = _stage_of(module)
                if other is not None and other != stage:
                    problems.append(f"{path.relative_to(root)}:{line} imports {module}")
    return problems


def test_no_stage_imports_another_stage() -> None:
    # Given every module under functions/core/<stage>/, When their imports are read,
    # Then none names another stage's module: what two stages share lives at core's root
    assert cross_stage_imports() == []


def test_the_check_sees_each_form_of_import(tmp_path: Path) -> None:
    # Given a fake core whose report stage imports transform four ways
    (tmp_path / "report").mkdir(parents=True)
    for stage in STAGES:
        (tmp_path / stage).mkdir(exist_ok=True)
    (tmp_path / "report" / "bad.py").write_text(
        "import functions.core.transform.growth\n"
        "from functions.core.transform import growth\n"
        "from functions.core import transform\n"
        "from functions.core.report import report_model\n"
        "from functions.core import codes\n"
    )
    # When it is checked, Then each import of transform is named, and nothing else
    problems = cross_stage_imports(tmp_path)
    assert [p.split(" imports ")[0] for p in problems] == [
        "report/bad.py:1",
        "report/bad.py:2",
        "report/bad.py:2",
        "report/bad.py:3",
    ]
