"""Deployed Lambda code on disk: zips extracted once per sha256, with their import paths.

A function's zip goes where Lambda puts it (/var/task); a layer's zip where Lambda puts it
(/opt), and Python imports from `python/` and `python/lib/python3.X/site-packages/` in it.

The ABI seam: layers and zips are built for Lambda's python3.12, so their native packages
(pyarrow, duckdb, msgspec...) carry `*.cpython-312-*.so` extension modules that this
interpreter cannot load. Every top-level name (package or module) that contains an extension
module tagged for another CPython is listed in `host_native`; the worker resolves exactly
those names from this interpreter's site-packages (same pinned versions) and everything
else from the deployed code.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

# An extension module for a specific CPython, e.g. lib.cpython-312-x86_64-linux-gnu.so.
_EXTENSION = re.compile(r"\.cpython-(\d+)[^/]*\.so$")
_OWN_TAG = f"{sys.version_info.major}{sys.version_info.minor}"


@dataclass(frozen=True)
class ExtractedCode:
    """Import paths of one zip, in Lambda's order, and its names to take from the host."""

    root: Path
    paths: tuple[str, ...]
    host_native: tuple[str, ...]


def _foreign_native_names(site_dir: Path) -> set[str]:
    """Top-level import names under `site_dir` that hold extensions for another CPython."""
    names: set[str] = set()
    if not site_dir.is_dir():
        return names
    for entry in site_dir.iterdir():
        if entry.suffix in {".dist-info", ".egg-info", ".libs"} or entry.name.endswith(".libs"):
            continue
        candidates = entry.rglob("*.so") if entry.is_dir() else [entry]
        for candidate in candidates:
            match = _EXTENSION.search(candidate.name)
            if match and match.group(1) != _OWN_TAG:
                names.add(entry.name.split(".", 1)[0])
                break
    return names


def _layer_python_dirs(root: Path) -> list[Path]:
    """Where the Python runtime imports from in a layer, in Lambda's order."""
    python_dir = root / "python"
    versioned = sorted((python_dir / "lib").glob("python3*/site-packages"))
    return [*versioned, python_dir]


class CodeCache:
    """Extracts zips into `cache_dir/<sha256>/`, once, safely across threads."""

    def __init__(self, cache_dir: Path) -> None:
        self._dir = cache_dir
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], ExtractedCode] = {}

    def _extract(self, data: bytes, digest: str) -> Path:
        target = self._dir / digest
        with self._lock:
            if not target.is_dir():
                partial = self._dir / f"{digest}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(partial)
                partial.rename(target)
        return target

    def function_code(self, data: bytes, *, digest: str | None = None) -> ExtractedCode:
        return self._get("function", data, digest)

    def layer(self, data: bytes, *, digest: str | None = None) -> ExtractedCode:
        return self._get("layer", data, digest)

    def _get(self, kind: str, data: bytes, digest: str | None) -> ExtractedCode:
        # moto already computed the zip's sha256 (code_digest); hash only when it did not.
        digest = digest or hashlib.sha256(data).hexdigest()
        known = self._known.get((kind, digest))
        if known is None:
            root = self._extract(data, digest)
            dirs = [root] if kind == "function" else _layer_python_dirs(root)
            native: set[str] = set()
            for site_dir in dirs:
                native |= _foreign_native_names(site_dir)
            known = ExtractedCode(root, tuple(str(d) for d in dirs), tuple(sorted(native)))
            self._known[(kind, digest)] = known
        return known
