"""Deterministic file writing: every file is hashed and counted as it is written.

The manifest lists every file with its row count (data lines; a CSV header is not a row)
and sha256, so two runs with the same seed can be compared byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from functions.core.errors import ConfigurationError

MANIFEST = "manifest.json"
TRUTH = "truth.json"
_ENCODER = msgspec.json.Encoder()


class _HashingFile:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()
        self.rows = 0

    def write_line(self, line: bytes) -> None:
        data = line + b"\n"
        self.sha256.update(data)
        self._handle.write(data)
        self.rows += 1


class JsonLinesFile(_HashingFile):
    def write_object(self, obj: dict[str, Any]) -> None:
        """Compact JSON, keys in insertion order, UTF-8."""
        self.write_line(_ENCODER.encode(obj))


class CsvFile(_HashingFile):
    def __init__(self, handle: BinaryIO, header: Sequence[str]) -> None:
        super().__init__(handle)
        self.write_line(csv_line(header))
        self.rows = 0  # the header is not a row

    def write_row(self, values: Sequence[object]) -> None:
        self.write_line(csv_line(values))


def csv_line(values: Sequence[object]) -> bytes:
    """One CSV row (RFC 4180 quoting when needed); None becomes an empty field."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(["" if v is None else v for v in values])
    return buffer.getvalue().encode("utf-8")


class OutputTree:
    """The generator's output folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, dict[str, Any]] = {}

    def prepare(self) -> None:
        """Create the folder; a previous generator output is replaced, anything else refused."""
        if self.root.exists() and any(self.root.iterdir()):
            manifest = self.root / MANIFEST
            if not manifest.is_file():
                raise ConfigurationError(
                    f"{self.root} is not empty and holds no generator {MANIFEST}; "
                    "choose an empty or new folder"
                )
            previous = json.loads(manifest.read_text(encoding="utf-8"))
            for rel in previous.get("files", {}):
                (self.root / rel).unlink(missing_ok=True)
            manifest.unlink()
            for child in sorted(self.root.iterdir()):
                if child.is_dir() and not any(child.rglob("*")):
                    shutil.rmtree(child)
        self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _open(self, rel: str) -> Iterator[BinaryIO]:
        if rel in self.files:
            raise ValueError(f"{rel} written twice")
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            yield handle

    @contextmanager
    def jsonl(self, rel: str) -> Iterator[JsonLinesFile]:
        with self._open(rel) as handle:
            out = JsonLinesFile(handle)
            yield out
        self._record(rel, out)

    @contextmanager
    def csv(self, rel: str, header: Sequence[str]) -> Iterator[CsvFile]:
        with self._open(rel) as handle:
            out = CsvFile(handle, header)
            yield out
        self._record(rel, out)

    def json_document(self, rel: str, document: dict[str, Any]) -> None:
        data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        with self._open(rel) as handle:
            handle.write(data)
        self.files[rel] = {"rows": None, "sha256": hashlib.sha256(data).hexdigest()}

    def _record(self, rel: str, out: _HashingFile) -> None:
        self.files[rel] = {"rows": out.rows, "sha256": out.sha256.hexdigest()}

    def write_manifest(self, parameters: dict[str, Any]) -> dict[str, Any]:
        manifest = {
            "parameters": parameters,
            "files": {rel: self.files[rel] for rel in sorted(self.files)},
        }
        data = json.dumps(manifest, indent=2) + "\n"
        (self.root / MANIFEST).write_text(data, encoding="utf-8")
        return manifest
