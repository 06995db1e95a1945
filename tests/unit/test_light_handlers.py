"""The 256 MB functions stay light: their handlers import neither pyarrow nor DuckDB (each
adds tens of MB to a cold start; together they pushed the landing inventory out of memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

LIGHT_HANDLERS = (
    "functions.handlers.landing_inventory",
    "functions.handlers.oncall_unmute",
    "functions.handlers.profit_review",
    "functions.handlers.engagement_monitor",
)
PROBE = (
    "import importlib, sys; importlib.import_module(sys.argv[1]); "
    "print(' '.join(sorted({'pyarrow', 'duckdb'} & set(sys.modules))))"
)


@pytest.mark.parametrize("module", LIGHT_HANDLERS)
def test_a_small_function_imports_no_dataframe_engine(module: str) -> None:
    # Given a fresh interpreter / When it imports the handler
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=True
    ).stdout.strip()
    # Then neither engine came with it
    assert loaded == ""
