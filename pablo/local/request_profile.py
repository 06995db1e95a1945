"""Where the emulator's CPU goes, per AWS operation served over HTTP.

Every request moto answers is named by its service and operation (`operation_of`), and the
CPU of the thread that served it (`time.thread_time`: this request's work alone, whatever
runs beside it) is added to that name. The health report carries the table, and the demo
prints the operations that cost most: a cut is aimed by it, not by guesswork.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

# `Credential=<key>/<date>/<region>/<service>/aws4_request` in a SigV4 Authorization header.
_SCOPE: Final = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
# S3 sub-resources that name the operation on a bucket or an object (`?uploads`, ...).
_S3_SUBRESOURCES: Final = (
    "list-type",
    "delete",
    "uploads",
    "uploadId",
    "tagging",
    "notification",
    "policy",
    "versioning",
    "location",
)
UNKNOWN_SERVICE: Final = "unknown"
# A lake key is <database>/<table>/<partitions>/<file>: a listing is named by the first two.
TABLE_DEPTH: Final = 2


def operation_of(environ: dict[str, Any]) -> str:
    """`<service> <operation>` of a WSGI request, without reading its body.

    JSON protocols name the operation in `X-Amz-Target` (`DynamoDB_20120810.GetItem` ->
    `GetItem`); S3 is its method on a bucket or an object with the sub-resource asked;
    other REST APIs are their method and path, ids replaced by `*`; a query-protocol request
    (its Action in the body) is its method and path."""
    service = _service_of(environ)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return f"{service} {target.rsplit('.', 1)[-1]}"
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    if service == "s3":
        return f"s3 {method} {_s3_resource(path, environ.get('QUERY_STRING', ''))}"
    return f"{service} {method} {_path_shape(path)}"


def _service_of(environ: dict[str, Any]) -> str:
    found = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else UNKNOWN_SERVICE


def _s3_resource(path: str, query: str) -> str:
    """`bucket` or `object`, the sub-resources asked, and for a listing the table folder of
    its prefix (what a pipeline lists): `bucket?list-type curated/clicks/`."""
    kind = "object" if path.strip("/").count("/") >= 1 else "bucket"
    params = dict(parse_qsl(query, keep_blank_values=True))
    named = [name for name in sorted(params) if name in _S3_SUBRESOURCES]
    resource = f"{kind}?{'&'.join(named)}" if named else kind
    if "list-type" in params or (kind == "bucket" and "prefix" in params):
        resource += f" {_table_folder(params.get('prefix', ''))}"
    return resource


def _table_folder(prefix: str) -> str:
    """The folders of a listing's prefix above its partitions, at most TABLE_DEPTH of them
    (`curated/clicks/dt=2026-09-01/` -> `curated/clicks/`), `/` for the whole bucket."""
    folders = []
    for part in prefix.split("/")[:-1][:TABLE_DEPTH]:
        if "=" in part:
            break
        folders.append(part)
    return "/".join(folders) + "/" if folders else "/"


def _path_shape(path: str) -> str:
    """The path with its names and ids as `*`: `/2015-03-31/functions/f/invocations` ->
    `/2015-03-31/functions/*/invocations` (a segment after a plural noun is an id)."""
    shaped: list[str] = []
    for part in path.strip("/").split("/"):
        after_noun = bool(shaped) and shaped[-1] != "*" and shaped[-1].endswith("s")
        shaped.append("*" if after_noun and not _is_version(part) else part)
    return "/" + "/".join(shaped)


def _is_version(segment: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", segment))


@dataclass
class Cost:
    requests: int = 0
    cpu_seconds: float = 0.0


class RequestProfile:
    """The CPU of each operation's requests so far (thread-safe)."""

    def __init__(self) -> None:
        self._costs: dict[str, Cost] = {}
        self._lock = threading.Lock()

    def add(self, operation: str, cpu_seconds: float) -> None:
        with self._lock:
            cost = self._costs.setdefault(operation, Cost())
            cost.requests += 1
            cost.cpu_seconds += cpu_seconds

    @property
    def requests(self) -> int:
        with self._lock:
            return sum(cost.requests for cost in self._costs.values())

    def report(self) -> dict[str, dict[str, float]]:
        """Every operation, costliest first: requests, CPU seconds, milliseconds a request."""
        with self._lock:
            costs = sorted(self._costs.items(), key=lambda item: -item[1].cpu_seconds)
            return {
                operation: {
                    "requests": cost.requests,
                    "cpu_seconds": round(cost.cpu_seconds, 3),
                    "cpu_ms_per_request": round(1000 * cost.cpu_seconds / cost.requests, 2),
                }
                for operation, cost in costs
            }
