"""Refresh the hashed locks in requirements/ on purpose: `make lock` (`python -m infra.lock`).

Four files, each with every package (transitive ones included) at one version with its hashes:

- `requirements-runtime.txt`: pyproject.toml's dependencies, for the tools' Python
  (universal markers);
- `requirements-dev.txt`: the same plus the `dev` extra, constrained to the runtime lock so
  both agree;
- `requirements-bootstrap.txt`: the installers (pip, setuptools, uv, packaging), from
  `requirements-bootstrap.in`, constrained to the runtime lock too;
- `requirements-layer.txt`: the Lambda layer's roots for the Lambda runtime's Python and
  platform, constrained to the runtime lock, wheels only.

Packages already locked keep their versions unless `--upgrade` (`make lock UPGRADE=1`).
uv resolves here and only here; `make` installs with `pip --require-hashes --no-deps`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.lambda_build import (
    LAMBDA_PYTHON_VERSION,
    LAYER_LOCK,
    LAYER_LOCK_PLATFORM,
    REPO_ROOT,
    declared_pins,
    layer_requirements,
    normalise,
    read_locked,
    read_pins,
)

LOCK_DIR = REPO_ROOT / "requirements"
BOOTSTRAP_INPUT = LOCK_DIR / "requirements-bootstrap.in"
BOOTSTRAP_LOCK = LOCK_DIR / "requirements-bootstrap.txt"
RUNTIME_LOCK = LOCK_DIR / "requirements-runtime.txt"
DEV_LOCK = LOCK_DIR / "requirements-dev.txt"
# The Python the tools run on: the oldest pyproject.toml allows.
TOOLS_PYTHON_VERSION = "3.11"
# This project, installed editable from the work tree: in no lock.
PROJECT_NAME = "pablo-pipelines"


def expected_venv() -> dict[str, str]:
    """What `make` installs into the venv: the bootstrap and dev locks, for this Python."""
    return {**read_locked(BOOTSTRAP_LOCK), **read_locked(DEV_LOCK)}


def installed_venv() -> dict[str, str]:
    """`{normalised name: version}` of every distribution in this interpreter's site-packages."""
    site_dirs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    installed = {
        normalise(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions(path=site_dirs)
    }
    installed.pop(PROJECT_NAME, None)
    return installed


def venv_drift(expected: Mapping[str, str], installed: Mapping[str, str]) -> list[str]:
    """One line per package missing, extra, or at another version than the lock says."""
    missing = sorted(expected.keys() - installed.keys())
    extra = sorted(installed.keys() - expected.keys())
    lines = [f"missing: {name}=={expected[name]}" for name in missing]
    lines += [f"not in the lock: {name}=={installed[name]}" for name in extra]
    lines += [
        f"other version: {name} {installed[name]} installed, {expected[name]} locked"
        for name in sorted(expected.keys() & installed.keys())
        if expected[name] != installed[name]
    ]
    return lines


def stale_pins(pyproject: Path, lock: Path) -> list[str]:
    """pyproject.toml's direct pins (dev extra included) that `lock` does not hold at their
    version: a pin was changed and `make lock` was not run."""
    locked = read_locked(lock)
    return [
        f"{pin.requirement} (lock: {locked.get(name, 'absent')})"
        for name, pin in sorted(declared_pins(pyproject, extras=["dev"]).items())
        if locked.get(name) != pin.version
    ]


def compile_commands(uv: str, *, upgrade: bool) -> list[tuple[list[str], str | None]]:
    """Each `uv pip compile` call with the text it reads on stdin (None: it reads files)."""
    base = [uv, "pip", "compile", "--quiet", "--generate-hashes"]
    if upgrade:
        base.append("--upgrade")
    tools = [*base, "--universal", "--python-version", TOOLS_PYTHON_VERSION]
    pyproject = str(REPO_ROOT / "pyproject.toml")
    constraint = ["--constraint", str(RUNTIME_LOCK)]
    layer_input = layer_requirements(read_pins(REPO_ROOT / "pyproject.toml"))
    return [
        ([*tools, "-o", str(RUNTIME_LOCK), pyproject], None),
        ([*tools, "--extra", "dev", *constraint, "-o", str(DEV_LOCK), pyproject], None),
        ([*tools, *constraint, "-o", str(BOOTSTRAP_LOCK), str(BOOTSTRAP_INPUT)], None),
        (
            [
                *base,
                "--python-version",
                LAMBDA_PYTHON_VERSION,
                "--python-platform",
                LAYER_LOCK_PLATFORM,
                "--only-binary",
                ":all:",
                *constraint,
                "-o",
                str(LAYER_LOCK),
                "-",
            ],
            layer_input,
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upgrade", action="store_true", help="move every package to its newest")
    parser.add_argument("--uv", default=str(Path(sys.executable).with_name("uv")))
    args = parser.parse_args(argv)
    env = {**os.environ, "UV_CUSTOM_COMPILE_COMMAND": "make lock"}
    for command, stdin in compile_commands(args.uv, upgrade=args.upgrade):
        print(f"lock: {Path(command[command.index('-o') + 1]).relative_to(REPO_ROOT)}")
        result = subprocess.run(command, input=stdin, text=True, env=env, check=False)
        if result.returncode != 0:
            print(f"lock: uv failed: {' '.join(command)}", file=sys.stderr)
            return 1
    print("lock: done; run `make test` (the whole suite) before committing the new locks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
