"""The PySpark anchor both benchmarks run: a separate venv named by BENCH_SPARK_PYTHON
(bench/README.md), running bench/spark_anchor.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Final

SPARK_PYTHON_ENV: Final = "BENCH_SPARK_PYTHON"
SPARK_SCRIPT: Final = Path(__file__).resolve().parent / "spark_anchor.py"


def spark_command(job: str) -> list[str]:
    """The PySpark venv's python running the anchor's `job` (its arguments follow)."""
    return [os.environ[SPARK_PYTHON_ENV], str(SPARK_SCRIPT), job]


def spark_skip_reason() -> str | None:
    """Why the PySpark anchor cannot run here, or None when it can."""
    python = os.environ.get(SPARK_PYTHON_ENV)
    if not python:
        return f"{SPARK_PYTHON_ENV} is not set (see bench/README.md)"
    probe = subprocess.run([python, "-c", "import pyspark"], capture_output=True, check=False)
    return None if probe.returncode == 0 else f"{python} cannot import pyspark"
