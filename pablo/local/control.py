"""A client for the emulator's control API (`/pablo-api/`), for the CLI, the demo and tests."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from functions.core.errors import PabloError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


class ControlApiError(PabloError):
    """The emulator refused a control request, or did not answer."""

    reason = "control_api"


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '6h', '1d12h', '2w' -> timedelta."""
    compact = text.strip().lower()
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ControlApiError(f"not a duration: {text!r} (use e.g. 90s, 15m, 6h, 1d12h, 2w)")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


class ControlClient:
    def __init__(self, endpoint: str, *, timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def _call(
        self, method: str, route: str, body: dict[str, Any] | None = None, timeout: float = 0
    ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}/pablo-api/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            raise ControlApiError(
                f"emulator refused {method} /pablo-api/{route}: {message}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ControlApiError(f"emulator at {self.endpoint} does not answer: {exc}") from exc

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health", timeout=5)

    def now(self) -> datetime:
        return datetime.fromisoformat(self._call("GET", "clock")["now"])

    def advance(
        self,
        *,
        to: datetime | None = None,
        by: timedelta | None = None,
        step: timedelta | None = None,
        settle: bool = True,
        timeout: float = 3600,
    ) -> dict[str, Any]:
        """Move the emulator clock forward; returns what the extensions did on the way."""
        if (to is None) == (by is None):
            raise ControlApiError("give exactly one of `to` or `by`")
        body: dict[str, Any] = {"settle": settle}
        if to is not None:
            body["to"] = to.isoformat()
        if by is not None:
            body["by_seconds"] = by.total_seconds()
        if step is not None:
            body["step_seconds"] = step.total_seconds()
        return self._call("POST", "clock", body, timeout=timeout)

    def esm_stats(self) -> dict[str, Any]:
        """Per Kinesis event source mapping: invocations, records, failures."""
        stats: dict[str, Any] = self._call("GET", "esm")["stats"]
        return stats

    def drain_streams(self, *, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until every mapped stream is processed up to its latest record."""
        return self._call("POST", "esm/drain", {"timeout": timeout}, timeout=timeout + 30)

    def iam_usage(self) -> dict[str, Any]:
        """Under IAM enforcement, per role: what it used, was denied, and never used."""
        principals: dict[str, Any] = self._call("GET", "iam/usage")["principals"]
        return principals
