"""The CDK app depends on the product's code and data, never on the tools (`pablo`).

Read from the source (an AST walk), not from `sys.modules`: an import inside a function
counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"
TOOLS_PACKAGE = "pablo"


def imported_modules(source: str) -> set[str]:
    """Every module an `import` or `from ... import` statement anywhere in `source` names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def names_tools(module: str) -> bool:
    return module == TOOLS_PACKAGE or module.startswith(f"{TOOLS_PACKAGE}.")


def test_the_walk_finds_imports_at_any_depth() -> None:
    # Given a module importing the tools at the top, inside a function and as `from pablo`
    source = "import pablo.query\ndef f():\n    from pablo import stack\n    import os\n"
    # Then each is found, and only the tools' ones name the tools
    modules = imported_modules(source)
    assert {"pablo.query", "pablo", "pablo.stack", "os"} <= modules
    assert sorted(m for m in modules if names_tools(m)) == ["pablo", "pablo.query", "pablo.stack"]


def test_no_module_under_infra_imports_pablo() -> None:
    # Given every Python module of infra/
    modules = sorted(INFRA.rglob("*.py"))
    assert len(modules) > 20  # the app, its config and every construct
    # Then none of them imports the tools package, at any depth
    offenders = {
        str(path.relative_to(INFRA.parent)): sorted(
            m for m in imported_modules(path.read_text(encoding="utf-8")) if names_tools(m)
        )
        for path in modules
    }
    assert {path: found for path, found in offenders.items() if found} == {}
