"""Lambda functions run for real in the emulator, from their deployed code.

moto never runs Lambda code without Docker. Every path that runs a function (Invoke, Step
Functions tasks, SNS, S3 notifications, event source mappings, custom resources) goes
through `LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)`, which
`moto_patches.awslambda.RUN_DEPLOYED_CODE` hands to `LambdaRuntime.invoke`. Each function
version runs in warm worker subprocesses (`pablo.local.lambda_worker`), like Lambda
execution environments: started with the function's environment, reused across
invocations, one invocation at a time each, up to `MAX_WORKERS_PER_FUNCTION` in parallel.
The timeout is enforced by killing the worker. Output goes to CloudWatch Logs
`/aws/lambda/<name>`, one stream per worker, with the START/END/REPORT lines Lambda writes.
"""

from __future__ import annotations

import json
import logging
import os
import select
import site
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from moto.awslambda.models import lambda_backends
from moto.s3.models import s3_backends

from pablo.local import iam, moto_patches, service_metrics
from pablo.local.clock import Clock
from pablo.local.context import LOCAL_CREDENTIALS, EmulatorContext
from pablo.local.lambda_code import CodeCache, ExtractedCode
from pablo.local.state import local_dir

LOG = logging.getLogger(__name__)

MAX_WORKERS_PER_FUNCTION: Final = 3
INIT_TIMEOUT_SECONDS: Final = 10.0  # Lambda's limit for the init phase
LOG_RESULT_TAIL_BYTES: Final = 4096  # what Invoke returns in X-Amz-Log-Result
WORKER_MODULE: Final = "pablo.local.lambda_worker"

InvokeResult = tuple[str, bool, str]


@dataclass(frozen=True)
class FunctionSpec:
    """What an execution environment depends on; a change means a fresh environment."""

    name: str
    version: str
    arn: str
    handler: str
    runtime: str
    timeout: int
    memory_mb: int
    environment: tuple[tuple[str, str], ...]
    code: ExtractedCode
    layers: tuple[ExtractedCode, ...]
    region: str
    role: str = ""  # the execution role: under IAM enforcement, the worker's credentials

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    @property
    def import_paths(self) -> list[str]:
        paths = list(self.code.paths)
        for layer in self.layers:
            paths.extend(layer.paths)
        return paths

    @property
    def host_native(self) -> list[str]:
        names = set(self.code.host_native)
        for layer in self.layers:
            names |= set(layer.host_native)
        return sorted(names)


@dataclass
class Invocation:
    payload: str
    errored: bool
    output: str
    duration_ms: float
    max_rss_mb: int = 0
    fatal: bool = False  # the environment must not be reused


class CloudWatchSink:
    """Writes an environment's log lines to its stream, through moto's logs backend."""

    def __init__(self, logs_backend: Any, group: str, version: str) -> None:
        self._backend = logs_backend
        self.group = group
        now = datetime.now(UTC)
        self.stream = f"{now:%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"
        self._created = False

    def write(self, lines: list[str]) -> None:
        if not self._created:
            self._backend.ensure_log_group(self.group)
            self._backend.create_log_stream(self.group, self.stream)
            self._created = True
        # Wall time, not the emulator clock: CloudWatch refuses events over 2 hours ahead.
        stamp = int(time.time() * 1000)
        events = [{"timestamp": stamp, "message": line} for line in lines]
        self._backend.put_log_events(self.group, self.stream, events)


class Worker:
    """One execution environment: a subprocess, its log file, its CloudWatch stream."""

    def __init__(self, spec: FunctionSpec, endpoint: str, sink: CloudWatchSink) -> None:
        self.spec = spec
        self.sink = sink
        self._log_path = local_dir() / "lambda" / "logs" / f"{uuid.uuid4().hex}.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = 0
        self._buffer = b""
        self.init_ms: float | None = None
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-m", WORKER_MODULE, str(self._log_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=spec.code.root,
            env=_worker_environment(spec, endpoint, sink.stream),
            start_new_session=True,  # a signal to the emulator's group must not hit it
        )

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def init(self) -> dict[str, Any] | None:
        """Import the handler; returns the AWS error payload if that fails."""
        started = time.monotonic()
        request = {
            "op": "init",
            "handler": self.spec.handler,
            "paths": self.spec.import_paths,
            "host_native": self.spec.host_native,
            "host_paths": site.getsitepackages(),
        }
        reply = self._exchange(request, INIT_TIMEOUT_SECONDS)
        self.init_ms = (time.monotonic() - started) * 1000
        if reply is None:
            return {
                "errorType": "Runtime.ExitError" if not self.alive else "Sandbox.Timedout",
                "errorMessage": "Init failed: the runtime exited or timed out during init",
            }
        return None if reply["ok"] else dict(reply["error"])

    def invoke(self, event_json: str, request_id: str) -> Invocation:
        timeout = self.spec.timeout
        started = time.monotonic()
        request = {
            "op": "invoke",
            "event": event_json,
            "request_id": request_id,
            "deadline_ms": int(time.time() * 1000) + timeout * 1000,
            "function_name": self.spec.name,
            "function_version": self.spec.version,
            "invoked_function_arn": self.spec.arn,
            "memory_limit_in_mb": self.spec.memory_mb,
            "log_group_name": self.spec.log_group,
            "log_stream_name": self.sink.stream,
        }
        reply = self._exchange(request, float(timeout))
        duration_ms = (time.monotonic() - started) * 1000
        if reply is None:
            return self._died(request_id, timeout, duration_ms)
        rss = int(reply.get("max_rss_mb", 0))
        if rss > self.spec.memory_mb:
            # Lambda kills an environment that goes over its memory size.
            self.kill()
            oom = _runtime_error(request_id, "Runtime.OutOfMemory", "signal: killed")
            return Invocation(json.dumps(oom), True, self.read_output(), duration_ms, rss, True)
        if reply["ok"]:
            return Invocation(reply["payload"], False, self.read_output(), duration_ms, rss)
        return Invocation(json.dumps(reply["error"]), True, self.read_output(), duration_ms, rss)

    def _died(self, request_id: str, timeout: int, duration_ms: float) -> Invocation:
        timed_out = self.alive
        self.kill()
        output = self.read_output()
        if timed_out:
            message = f"Task timed out after {timeout:.2f} seconds"
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            output += f"{stamp} {request_id} {message}\n"
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: {message}",
            }
        else:
            status = f"exit status {self._process.returncode}"
            error = _runtime_error(request_id, "Runtime.ExitError", status)
        return Invocation(json.dumps(error), True, output, duration_ms, 0, True)

    def _exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one request; the reply, or None if the worker died or missed `timeout`."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write((json.dumps(request) + "\n").encode())
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        line = self._read_line(time.monotonic() + timeout)
        return None if line is None else dict(json.loads(line))

    def _read_line(self, deadline: float) -> bytes | None:
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def read_output(self) -> str:
        """What the handler printed since the last call."""
        try:
            with self._log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                data = handle.read()
        except FileNotFoundError:
            return ""
        self._log_offset += len(data)
        return data.decode("utf-8", errors="replace")

    def interrupt(self) -> None:
        """End the environment's process, even mid-invocation: the invoking thread reads
        EOF and reports the invocation as died (the pool then closes the worker)."""
        if self.alive:
            self._process.kill()

    def kill(self) -> None:
        if self.alive:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        self.kill()
        self._log_path.unlink(missing_ok=True)


def _runtime_error(request_id: str, error_type: str, status: str) -> dict[str, str]:
    return {
        "errorType": error_type,
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {status}",
    }


def _credentials(spec: FunctionSpec) -> dict[str, str]:
    """The function's role's temporary credentials under IAM enforcement (it may do what
    its role allows, nothing more); the emulator's fixed ones otherwise."""
    if iam.enforcing() and spec.role:
        return iam.role_credentials(spec.role, session_name=spec.name)
    return {
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": "testing",
    }


def _worker_environment(spec: FunctionSpec, endpoint: str, stream: str) -> dict[str, str]:
    """The variables Lambda sets, the function's own, and the emulator's endpoint."""
    env = dict(spec.environment)
    # The SDK inside the handler talks to the emulator, unless the function says otherwise.
    env.setdefault("AWS_ENDPOINT_URL", endpoint)
    env.update(
        {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(spec.code.root),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            **_credentials(spec),
            # The host's ~/.aws files must not change how the handler's SDK behaves.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env


@dataclass
class WorkerPool:
    """The warm environments of one function version (same code and configuration)."""

    spec: FunctionSpec
    endpoint: str
    logs_backend: Any
    cap: int = MAX_WORKERS_PER_FUNCTION
    idle: list[Worker] = field(default_factory=list)
    busy: int = 0
    retired: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def acquire(self) -> Worker | None:
        """A warm worker, or None when a new one must be started (the slot is reserved)."""
        with self._cond:
            while not self.idle and self.busy >= self.cap:
                self._cond.wait()
            self.busy += 1
            while self.idle:
                worker = self.idle.pop()
                if worker.alive:
                    return worker
                worker.close()
            return None

    def spawn(self) -> Worker:
        sink = CloudWatchSink(self.logs_backend, self.spec.log_group, self.spec.version)
        return Worker(self.spec, self.endpoint, sink)

    def release(self, worker: Worker | None, *, reusable: bool) -> None:
        with self._cond:
            self.busy -= 1
            if worker is not None:
                if reusable and worker.alive and not self.retired:
                    self.idle.append(worker)
                else:
                    worker.close()
            self._cond.notify()

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [worker.pid for worker in self.idle if worker.alive]

    def retire(self) -> None:
        with self._cond:
            self.retired = True
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.close()


def _event_json(event: Any) -> str:
    # moto parses the Invoke payload before calling the seam, and substitutes the string
    # "{}" for an empty payload; Lambda gives the handler {} then.
    if event is None or event == "{}":
        return "{}"
    return json.dumps(event)


class LambdaRuntime:
    """The emulator extension that makes moto's Lambda functions run."""

    name = "lambda"

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._cache = CodeCache(cache_dir or local_dir() / "lambda" / "code")
        self._pools: dict[str, WorkerPool] = {}
        self._lock = threading.Lock()
        self._workers: set[Worker] = set()  # every live environment, idle or busy
        self._closed = False  # stopping: no new invocation
        self._endpoint = ""
        self._clock: Clock | None = None

    def start(self, ctx: EmulatorContext) -> None:
        self._endpoint = ctx.endpoint
        self._clock = ctx.clock
        moto_patches.apply(moto_patches.awslambda.RUN_DEPLOYED_CODE, invoke=self.invoke)

    def close(self) -> None:
        """Refuse new invocations and end every environment, the busy ones included: an
        invocation in progress ends as a runtime error instead of holding the shutdown or
        outliving the emulator in an orphan process."""
        with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.interrupt()
        for pool in pools:
            pool.retire()

    def stop(self) -> None:
        self.close()
        moto_patches.restore(moto_patches.awslambda.RUN_DEPLOYED_CODE)

    def on_clock_advance(self, old: datetime, new: datetime) -> list[dict[str, Any]] | None:
        """Lambda has nothing scheduled of its own."""
        return None

    def idle_worker_pids(self) -> list[int]:
        """The warm workers not running an invocation now (for CPU accounting)."""
        with self._lock:
            pools = list(self._pools.values())
        return [pid for pool in pools for pid in pool.worker_pids()]

    def invoke(self, fn: Any, event: Any) -> InvokeResult:
        """The seam: run `fn` on `event`; (payload, errored, log tail) as moto expects. A
        function error is counted in AWS/Lambda Errors, as Lambda does."""
        result = self._run(fn, event)
        if result[1] and self._clock is not None and not self._closed:
            service_metrics.function_error(
                fn.function_name, at=self._clock.now(), region=fn.region, account=fn.account_id
            )
        return result

    def _run(self, fn: Any, event: Any) -> InvokeResult:
        request_id = str(uuid.uuid4())
        if self._closed:
            error = {"errorType": "Runtime.Unavailable", "errorMessage": "emulator stopping"}
            return json.dumps(error), True, ""
        try:
            pool = self._pool_for(fn)
        except Exception as exc:  # a function the emulator cannot run: say why, like AWS
            LOG.exception("cannot prepare Lambda function %s", fn.function_name)
            error = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(exc)}
            return json.dumps(error), True, ""
        worker = pool.acquire()
        reusable = False
        try:
            lines = [f"START RequestId: {request_id} Version: {pool.spec.version}"]
            init_error = None
            if worker is None:
                worker = pool.spawn()
                self._track(worker)
                init_error = worker.init()
            if init_error is not None:
                init_error.setdefault("requestId", request_id)
                lines += _output_lines(worker.read_output())
                lines += [f"END RequestId: {request_id}", _report(request_id, pool.spec, None)]
                worker.sink.write(lines)
                return json.dumps(init_error), True, _tail(lines)
            cold_init = worker.init_ms
            worker.init_ms = None  # reported once, on the cold start
            result = worker.invoke(_event_json(event), request_id)
            reusable = not result.fatal
            lines += _output_lines(result.output)
            lines += [f"END RequestId: {request_id}", _report(request_id, pool.spec, result)]
            if cold_init is not None:
                lines[-1] += f"\tInit Duration: {cold_init:.2f} ms"
            worker.sink.write(lines)
            return result.payload, result.errored, _tail(lines)
        finally:
            pool.release(worker, reusable=reusable)
            if worker is not None and not (reusable and worker.alive):
                self._untrack(worker)

    def _track(self, worker: Worker) -> None:
        with self._lock:
            closed = self._closed
            if not closed:
                self._workers.add(worker)
        if closed:  # spawned while the emulator closed: end it too
            worker.interrupt()

    def _untrack(self, worker: Worker) -> None:
        with self._lock:
            self._workers.discard(worker)

    def _pool_for(self, fn: Any) -> WorkerPool:
        spec = self._spec(fn)
        key = f"{spec.arn}:{spec.version}"
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None and pool.spec == spec:
                return pool
            if pool is not None:  # new code or configuration: environments start fresh
                pool.retire()
            pool = WorkerPool(spec, self._endpoint, fn.logs_backend)
            self._pools[key] = pool
            return pool

    def _spec(self, fn: Any) -> FunctionSpec:
        if getattr(fn, "package_type", "Zip") != "Zip":
            raise ValueError("container image functions are not supported by the emulator")
        environment = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
        return FunctionSpec(
            name=fn.function_name,
            version=str(fn.version),
            arn=fn.function_arn,
            handler=fn.handler,
            runtime=fn.run_time or "python3.12",
            timeout=int(fn.timeout),
            memory_mb=int(fn.memory_size),
            environment=tuple(sorted(environment.items())),
            code=self._cache.function_code(_function_zip(fn), digest=fn.code_digest),
            layers=tuple(self._layers(fn)),
            region=fn.region,
            role=str(fn.role or ""),
        )

    def _layers(self, fn: Any) -> list[ExtractedCode]:
        backend = lambda_backends[fn.account_id][fn.region]
        layers = []
        for layer in fn.layers:
            version = backend.layers_versions_by_arn(layer["Arn"])
            data = getattr(version, "code_bytes", b"") if version is not None else b""
            if not data:
                LOG.warning("layer %s has no content in the emulator; skipped", layer["Arn"])
                continue
            layers.append(self._cache.layer(data, digest=getattr(version, "code_digest", None)))
        return layers


def _function_zip(fn: Any) -> bytes:
    """The deployed zip: moto keeps it in memory, or it is still in its S3 bucket."""
    data: bytes = getattr(fn, "code_bytes", b"") or b""
    if data:
        return data
    code = fn.code or {}
    if "S3Bucket" in code and "S3Key" in code:
        key = s3_backends[fn.account_id][fn.partition].get_object(code["S3Bucket"], code["S3Key"])
        if key is not None:
            return bytes(key.value)
    raise ValueError(f"function {fn.function_name} has no code in the emulator")


def _output_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def _report(request_id: str, spec: FunctionSpec, result: Invocation | None) -> str:
    duration = result.duration_ms if result else 0.0
    memory = result.max_rss_mb if result else 0
    return (
        f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
        f"Billed Duration: {int(duration) + 1} ms\tMemory Size: {spec.memory_mb} MB\t"
        f"Max Memory Used: {memory} MB"
    )


def _tail(lines: list[str]) -> str:
    text = "\n".join(lines) + "\n"
    encoded = text.encode()
    if len(encoded) <= LOG_RESULT_TAIL_BYTES:
        return text
    return encoded[-LOG_RESULT_TAIL_BYTES:].decode("utf-8", errors="ignore")
