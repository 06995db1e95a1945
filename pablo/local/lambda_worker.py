"""One Lambda execution environment: a warm Python process that runs one function's handler.

Started by `pablo.local.lambda_runtime` with `python -P -m pablo.local.lambda_worker`, the
function's environment variables, and its cwd at the extracted code (like /var/task). It
speaks JSON lines: requests on stdin, responses on the original stdout. The handler's own
stdout and stderr (file descriptors 1 and 2, so native libraries are captured too) go to a
log file that the parent copies to CloudWatch Logs after each invocation.

This module imports only the standard library: anything it imported would be shared with
the handler, and the handler must get its packages from its own code and layers first.

Requests:  {"op": "init", "handler": "pkg.module.func", "paths": [...], "host_native": [...],
            "host_paths": [...]}
           {"op": "invoke", "event": <json text>, "request_id": str, "deadline_ms": int,
            "function_name": ..., "function_version": ..., "invoked_function_arn": ...,
            "memory_limit_in_mb": int, "log_group_name": ..., "log_stream_name": ...}
Responses: {"ok": true, "payload": <json text>, "max_rss_mb": int}
           {"ok": false, "error": {"errorMessage", "errorType", "requestId", "stackTrace"}, ...}
"""

from __future__ import annotations

import decimal
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TextIO


class LambdaContext:
    """The `context` argument, with the attributes and method the AWS Python runtime gives."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name: str = request["function_name"]
        self.function_version: str = request["function_version"]
        self.invoked_function_arn: str = request["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(request["memory_limit_in_mb"])
        self.aws_request_id: str = request["request_id"]
        self.log_group_name: str = request["log_group_name"]
        self.log_stream_name: str = request["log_stream_name"]
        self.identity: Any = None
        self.client_context: Any = None
        # Epoch milliseconds, as the runtime's own deadline (Lambda-Runtime-Deadline-Ms).
        self._deadline_ms: int = int(request["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class HostNativeFinder(importlib.abc.MetaPathFinder):
    """Resolves named top-level packages from the host interpreter's site-packages.

    Why: layers and zips are built for Lambda's python3.12 and ship cp312 extension modules
    (pyarrow, duckdb, msgspec...) that this interpreter cannot load. Those names, and only
    those, are taken from the emulator's own venv; pure-Python content still comes from the
    deployed code and layers.
    """

    def __init__(self, names: Sequence[str], host_paths: Sequence[str]) -> None:
        self._names = frozenset(names)
        self._host_paths = list(host_paths)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, self._host_paths)
        if spec is None:
            raise ImportError(
                f"{fullname!r} ships native code built for another Python; the emulator loads "
                f"native packages from its own environment, which does not have it",
                name=fullname,
            )
        return spec


def _error(exc: BaseException, request_id: str, error_type: str | None = None) -> dict[str, Any]:
    """The payload the AWS Python runtime returns for an unhandled exception."""
    # Only the handler's frames and below, as the AWS runtime reports them.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _log_error(error: dict[str, Any]) -> None:
    # The runtime logs the error the same way: "[ERROR] Type: message" and the trace.
    trace = "".join(error["stackTrace"])
    print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr)
    if trace:
        print(f"Traceback (most recent call last):\n{trace}", file=sys.stderr, end="")


def _json_default(value: Any) -> Any:
    # The runtime's marshaller turns Decimal (from DynamoDB) into numbers.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class Runtime:
    def __init__(self) -> None:
        self.handler: Callable[[Any, LambdaContext], Any] | None = None

    def init(self, request: dict[str, Any]) -> dict[str, Any]:
        sys.path[:0] = list(request["paths"])
        # The project's editable install would let a handler import code it was not
        # deployed with; drop it so a missing module fails here as it would in AWS.
        sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in repr(f)]
        if request["host_native"]:
            sys.meta_path.insert(0, HostNativeFinder(request["host_native"], request["host_paths"]))
        module_name, _, func_name = request["handler"].rpartition(".")
        module_name = module_name.replace("/", ".")
        try:
            module = importlib.import_module(module_name)
        except SyntaxError as exc:
            return {"ok": False, "error": _error(exc, "", "Runtime.UserCodeSyntaxError")}
        except Exception as exc:
            error = _error(exc, "", "Runtime.ImportModuleError")
            error["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
            return {"ok": False, "error": error}
        handler = getattr(module, func_name, None)
        if not callable(handler):
            message = f"Handler '{func_name}' missing on module '{module_name}'"
            return {
                "ok": False,
                "error": {
                    "errorMessage": message,
                    "errorType": "Runtime.HandlerNotFound",
                    "requestId": "",
                    "stackTrace": [],
                },
            }
        self.handler = handler
        return {"ok": True}

    def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.handler is not None, "invoke before init"
        context = LambdaContext(request)
        request_id = context.aws_request_id
        try:
            event = json.loads(request["event"])
            result = self.handler(event, context)
        except Exception as exc:
            error = _error(exc, request_id)
            _log_error(error)
            return {"ok": False, "error": error}
        try:
            payload = json.dumps(result, default=_json_default)
        except (TypeError, ValueError) as exc:
            error = _error(exc, request_id, "Runtime.MarshalError")
            error["errorMessage"] = f"Unable to marshal response: {exc}"
            error["stackTrace"] = []
            _log_error(error)
            return {"ok": False, "error": error}
        return {"ok": True, "payload": payload}


def _peak_rss_mb() -> int:
    """Peak resident memory of this process image (what Lambda's Max Memory Used reports).

    VmHWM rather than ru_maxrss: Linux carries ru_maxrss over from the forking parent
    (the emulator server itself) across exec, which would overstate it.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _redirect_output(log_path: str) -> TextIO:
    """Point fds 1 and 2 at the log file; return a private stream for protocol replies."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8", closefd=False)
    return protocol


def main(argv: Sequence[str]) -> int:
    log_path = argv[0]
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    # The handler must not read the protocol by accident.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    replies = _redirect_output(log_path)
    runtime = Runtime()
    for line in requests:
        request = json.loads(line)
        response = runtime.init(request) if request["op"] == "init" else runtime.invoke(request)
        sys.stdout.flush()
        sys.stderr.flush()
        response["max_rss_mb"] = _peak_rss_mb()
        replies.write(json.dumps(response) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
