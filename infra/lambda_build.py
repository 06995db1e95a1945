"""Build the Lambda assets without Docker: `python -m infra.lambda_build`.

Two directories, both read by `infra.constructs.pipeline_function`:

- `build/lambda/code/functions/`: a copy of `functions/` (refreshed on every run: it is
  cheap, and a redeploy must pick up code changes);
- `build/lambda/layer/python/`: the runtime dependencies, installed as manylinux wheels for
  the Lambda runtime from the hashed lock `requirements/requirements-layer.txt` (every
  package, transitive ones included; pip never resolves), then pruned of what Lambda never
  loads. Skipped when a stamp file says the lock and this script have not changed.
- `build/lambda/layer/layer.zip`: that directory zipped once, here, and deployed as it is:
  left to the CDK CLI, zipping 210 MiB would cost every first deploy about 5 s.

Lambda allows 250 MB unzipped for a function and its layers together; pyarrow 26 alone is
about 123 MB after pruning, duckdb 57 MB and plotly 30 MB, so the build prints every size
it produces and fails over the limit.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from functions.core.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYER_LOCK = REPO_ROOT / "requirements" / "requirements-layer.txt"
BUILD_DIR = REPO_ROOT / "build" / "lambda"
CODE_DIR = BUILD_DIR / "code"
LAYER_DIR = BUILD_DIR / "layer"
BUILT_MARKER = BUILD_DIR / ".built"
LAYER_STAMP_NAME = ".pins.sha256"
LAYER_ZIP_NAME = "layer.zip"
# Every entry gets this time, so the same files always make the same bytes.
ZIP_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)

# What the deployed functions import at run time: the layer lock's roots, at their
# pyproject.toml pins (`make lock` compiles requirements/requirements-layer.txt from them).
# boto3 is missing on purpose: the Lambda Python runtime ships it, and bundling a second copy
# costs 15 MB.
LAYER_PACKAGES: tuple[str, ...] = (
    "pyarrow",
    "duckdb",
    "msgspec",
    "aws-lambda-powertools",
    # The executive report's charts; plotly needs narwhals.
    "plotly",
    "narwhals",
)

LAMBDA_PYTHON_VERSION = "3.12"
# The platform `make lock` resolves the layer for (uv's name for manylinux_2_28 x86_64).
LAYER_LOCK_PLATFORM = "x86_64-manylinux_2_28"
# pip with only manylinux2014 finds no pyarrow wheel, hence three platform tags.
PIP_PLATFORM_ARGS: tuple[str, ...] = (
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--only-binary=:all:",
    "--python-version",
    LAMBDA_PYTHON_VERSION,
    "--implementation",
    "cp",
)

LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024

# Directories and files Lambda never loads: headers, Cython sources, test suites, caches.
PRUNE_DIR_NAMES: frozenset[str] = frozenset({"__pycache__", "tests", "include"})
PRUNE_FILE_SUFFIXES: tuple[str, ...] = (".pyx", ".pxd", ".pxi", ".h", ".hpp", ".pyc", ".cmake")
# `tests` is a plain name in several packages that are NOT test suites; only prune it
# where it is known to be one.
PRUNE_TESTS_UNDER: tuple[str, ...] = ("pyarrow",)
# Arrow Flight (RPC) and pyarrow's C++ test extension: about 35 MB nothing here imports.
# No other library in the layer lists them as NEEDED (checked with readelf, and guarded by
# tests/infra/test_lambda_build.py), so `import pyarrow.flight` is the only thing that breaks.
PRUNE_GLOBS: tuple[str, ...] = (
    "pyarrow/libarrow_flight.so*",
    "pyarrow/libarrow_python_flight.so*",
    "pyarrow/_flight.cpython-*.so",
    "pyarrow/_pyarrow_cpp_tests.cpython-*.so",
    # plotly's Jupyter widget and JupyterLab extension (about 10 MB): the report embeds
    # plotly.min.js from package_data and never runs in a notebook.
    "share",
    "plotly/labextension",
    "plotly/package_data/widgetbundle.js",
)

_PIN_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==(?P<ver>\S+)$")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def normalise(name: str) -> str:
    """PEP 503 name normalisation, so `aws_lambda_powertools` matches `aws-lambda-powertools`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_pins(pyproject: Path, *, extras: Iterable[str] = ()) -> dict[str, Pin]:
    """`{normalised name: Pin}` of pyproject.toml's exact `==` dependencies, and of `extras`."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    specs = list(project.get("dependencies", []))
    for extra in extras:
        specs += project.get("optional-dependencies", {}).get(extra, [])
    declared: dict[str, Pin] = {}
    for spec in specs:
        match = _PIN_RE.match(spec.replace(" ", ""))
        if match:
            pin = Pin(name=match["name"], version=match["ver"])
            declared[normalise(pin.name)] = pin
    return declared


def read_pins(pyproject: Path, packages: Iterable[str] = LAYER_PACKAGES) -> list[Pin]:
    """The exact pins of `packages` in pyproject.toml's dependencies (never respelled)."""
    declared = declared_pins(pyproject)
    wanted = tuple(packages)
    missing = [p for p in wanted if normalise(p) not in declared]
    if missing:
        raise ConfigurationError(
            f"{pyproject} has no exact `==` pin for {missing}, which the Lambda layer needs"
        )
    return [declared[normalise(p)] for p in wanted]


def layer_requirements(pins: Sequence[Pin]) -> str:
    """The layer lock's input (`make lock` pipes it to `uv pip compile`)."""
    return "".join(f"{pin.requirement}\n" for pin in pins)


def read_locked(lock: Path) -> dict[str, str]:
    """`{normalised name: version}` of a pip lock's entries whose environment markers hold
    for this interpreter (a universal lock can name one package twice, per Python)."""
    locked: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if not line or line[0] in " #-":
            continue  # hash continuations, comments and options
        requirement = Requirement(line.rstrip("\\ "))
        if requirement.marker is None or requirement.marker.evaluate():
            (specifier,) = requirement.specifier
            locked[normalise(requirement.name)] = specifier.version
    return locked


def check_lock_covers(pins: Sequence[Pin], lock: Path) -> None:
    """Refuse a layer lock that does not hold exactly pyproject.toml's pins (a stale lock)."""
    if not lock.is_file():
        raise ConfigurationError(f"no layer lock at {lock}: run `make lock`")
    locked = read_locked(lock)
    stale = [p.requirement for p in pins if locked.get(normalise(p.name)) != p.version]
    if stale:
        raise ConfigurationError(
            f"{lock} does not lock {stale} as pyproject.toml pins them: run `make lock`"
        )


def layer_fingerprint(lock: Path, build_script: Path = Path(__file__)) -> str:
    """The layer's CDK asset hash: the locked set (every package, version and wheel hash)
    plus this script (pruning, pip arguments). Any change to either rebuilds the layer."""
    digest = hashlib.sha256()
    for path in (lock, build_script):
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def copy_code(source: Path, code_dir: Path) -> Path:
    """Replace `code_dir/<source name>` with a clean copy of `source`."""
    target = code_dir / source.name
    if target.exists():
        shutil.rmtree(target)
    code_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def prune(site_dir: Path) -> int:
    """Delete what Lambda never loads under `site_dir`; return the bytes freed."""
    freed = 0
    for pattern in PRUNE_GLOBS:
        for path in site_dir.glob(pattern):
            if path.is_dir():
                freed += directory_size(path)
                shutil.rmtree(path)
            else:
                freed += path.stat().st_size
                path.unlink()
    for path in sorted(site_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists() or path.is_symlink():
            continue
        if path.is_dir() and _is_prunable_dir(site_dir, path):
            freed += directory_size(path)
            shutil.rmtree(path)
        elif path.is_file() and path.name.endswith(PRUNE_FILE_SUFFIXES):
            freed += path.stat().st_size
            path.unlink()
    return freed


def _is_prunable_dir(site_dir: Path, path: Path) -> bool:
    if path.name not in PRUNE_DIR_NAMES:
        return False
    if path.name == "tests":
        top = path.relative_to(site_dir).parts[0]
        return top in PRUNE_TESTS_UNDER
    return True


def directory_size(path: Path) -> int:
    """Unzipped size in bytes: what counts against Lambda's 250 MB limit."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def install_layer(lock: Path, site_dir: Path, *, python: str = sys.executable) -> None:
    """pip-install the locked set, for the Lambda runtime's platform, into `site_dir`:
    every wheel checked against its hash, nothing resolved."""
    if site_dir.exists():
        shutil.rmtree(site_dir)
    site_dir.mkdir(parents=True)
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(site_dir),
        *PIP_PLATFORM_ARGS,
        "--require-hashes",
        "--no-deps",
        "--requirement",
        str(lock),
    ]
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise ConfigurationError(f"pip could not build the Lambda layer: {' '.join(command)}")


def build_layer(lock: Path, layer_dir: Path, *, force: bool = False) -> bool:
    """Build the layer unless its stamp matches; True when it was (re)built. The zip is
    written before the stamp, so a stamped layer always has its zip."""
    stamp = layer_dir / LAYER_STAMP_NAME
    fingerprint = layer_fingerprint(lock)
    site_dir = layer_dir / "python"
    current = not force and site_dir.is_dir() and _read(stamp) == fingerprint
    if current and layer_zip(layer_dir).is_file():
        return False
    stamp.unlink(missing_ok=True)  # a half-built layer must never look current
    if not current:
        install_layer(lock, site_dir)
        freed = prune(site_dir)
        print(f"layer: pruned {mib(freed)}")
    zip_directory(site_dir, layer_zip(layer_dir))
    stamp.write_text(fingerprint, encoding="utf-8")
    return True


def layer_zip(layer_dir: Path = LAYER_DIR) -> Path:
    """The deployable layer: `python/...` at the zip's root, as Lambda mounts it in /opt."""
    return layer_dir / LAYER_ZIP_NAME


def zip_directory(directory: Path, target: Path) -> None:
    """Zip `directory` (itself the zip's top folder) into `target`, atomically, with the
    same bytes for the same files: sorted entries, one fixed time, no extra attributes."""
    partial = target.with_name(target.name + ".partial")
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            entry = zipfile.ZipInfo(
                path.relative_to(directory.parent).as_posix(), date_time=ZIP_ENTRY_TIME
            )
            entry.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as source, archive.open(entry, "w") as sink:
                shutil.copyfileobj(source, sink, 1024 * 1024)
    os.replace(partial, target)


def read_layer_fingerprint(layer_dir: Path = LAYER_DIR) -> str | None:
    """The stamp of the built layer (the CDK asset hash), or None when it was never built."""
    return _read(layer_dir / LAYER_STAMP_NAME)


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def package_sizes(site_dir: Path) -> list[tuple[str, int]]:
    """Top-level entries of the layer by size, largest first."""
    sizes = [
        (p.name, directory_size(p) if p.is_dir() else p.stat().st_size)
        for p in site_dir.iterdir()
        if not p.name.endswith(".dist-info")
    ]
    return sorted(sizes, key=lambda item: item[1], reverse=True)


def build(*, repo_root: Path = REPO_ROOT, force_layer: bool = False) -> int:
    """Build both assets, print their sizes, write the marker; return the total bytes."""
    build_dir = repo_root / "build" / "lambda"
    pins = read_pins(repo_root / "pyproject.toml")
    lock = repo_root / LAYER_LOCK.relative_to(REPO_ROOT)
    check_lock_covers(pins, lock)
    copy_code(repo_root / "functions", build_dir / "code")
    rebuilt = build_layer(lock, build_dir / "layer", force=force_layer)
    code_size = directory_size(build_dir / "code")
    layer_size = directory_size(build_dir / "layer" / "python")
    total = code_size + layer_size
    print(f"code:  {mib(code_size)}  ({build_dir / 'code'})")
    state = "rebuilt" if rebuilt else "unchanged lock, kept"
    locked = ", ".join(f"{name}=={version}" for name, version in read_locked(lock).items())
    print(f"layer: {mib(layer_size)}  ({state}: {locked})")
    print(f"       {mib(layer_zip(build_dir / 'layer').stat().st_size)} zipped")
    for name, size in package_sizes(build_dir / "layer" / "python")[:6]:
        print(f"         {name:<24} {mib(size)}")
    limit = LAMBDA_UNZIPPED_LIMIT_BYTES
    print(f"total: {mib(total)} of Lambda's {mib(limit)} unzipped limit ({total / limit:.0%})")
    if total > limit:
        raise ConfigurationError(f"code + layer is {mib(total)}, over Lambda's {mib(limit)}")
    (build_dir / ".built").write_text(f"{total}\n", encoding="utf-8")
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--force-layer", action="store_true", help="rebuild the layer even if the lock is unchanged"
    )
    parser.add_argument(
        "--layer-requirements",
        action="store_true",
        help="print the layer lock's input (its pyproject.toml pins) and build nothing",
    )
    args = parser.parse_args(argv)
    try:
        if args.layer_requirements:
            print(layer_requirements(read_pins(REPO_ROOT / "pyproject.toml")), end="")
            return 0
        build(force_layer=args.force_layer)
    except ConfigurationError as exc:
        print(f"lambda_build: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
