"""Strict parsing of landed records, shared by every file validator (account events,
finance CSVs, experiments): bytes in, values or one reason code out, nothing raised.

- `csv_records`: one CSV record at a time with its exact raw bytes, so a bad line is
  quarantined alone and byte for byte.
- `json_object_line`: one JSON-lines record that must be a JSON object, with the reason
  codes of docs/data-contracts.md (the click ingest has its own vectorised path).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from functions.core.codes import DUPLICATE_JSON_KEY, INVALID_JSON, INVALID_UTF8, NOT_AN_OBJECT

CsvRecord = tuple[int, bytes, list[str] | None]  # first line number, raw bytes, fields


def csv_records(data: bytes) -> Iterator[CsvRecord]:
    """(first line number, raw bytes, fields or None when unparseable) per CSV record; a
    quoted field may span lines (RFC 4180).

    Decoding with surrogateescape keeps undecodable bytes visible as lone surrogates, so a
    non-UTF-8 record is rejected alone (its fields are None) and its exact bytes are kept.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    lines = text.splitlines(keepends=True)
    reader = csv.reader(iter(lines), strict=True)
    consumed = 0
    while consumed < len(lines):
        start = consumed
        try:
            values: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            values = None
        consumed = max(reader.line_num, start + 1)
        raw = "".join(lines[start:consumed]).encode("utf-8", errors="surrogateescape")
        if values is not None and any(_has_surrogate(v) for v in values):
            values = None
        yield start + 1, raw, values


def json_object_line(raw: bytes) -> dict[str, Any] | tuple[str, str]:
    """The JSON object of one line, or (reason code, detail)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return INVALID_UTF8, str(exc)
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except _DuplicateKeyError as exc:
        return DUPLICATE_JSON_KEY, f"key {exc} appears twice"
    except ValueError as exc:
        return INVALID_JSON, str(exc)[:200]
    if _holds_lone_surrogate(value):
        return INVALID_UTF8, "a string holds a lone surrogate"
    if not isinstance(value, dict):
        return NOT_AN_OBJECT, f"a JSON {type(value).__name__}"
    return value


class _DuplicateKeyError(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _holds_lone_surrogate(value: Any) -> bool:
    """JSON escapes such as \\udcff decode to strings UTF-8 cannot encode."""
    if isinstance(value, str):
        return _has_surrogate(value)
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_lone_surrogate(v) for v in value)
    return False
