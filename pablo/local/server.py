"""The emulator process: moto's threaded server plus what moto lacks, on one port.

- moto (`ThreadedMotoServer`) answers the AWS APIs on http://localhost:PORT, with Step
  Functions executing for real (`execute_state_machine`, `MOTO_PORT`).
- `moto_patches.install_patches` adjusts moto (see that package for each reason).
- Extensions (the `Extension` protocol): the Lambda runtime, then those of `EXTENSIONS`,
  imported here by name (a wrong name is an ImportError when the server starts).
- `/pablo-api/` is the control API, on the same port:
  GET  /pablo-api/health  -> status, pid, clock, extensions, patches,
       http_requests (AWS API requests served over HTTP: calls made inside the emulator
       never count, see moto_patches.stepfunctions), http_profile (their CPU by operation,
       `request_profile`)
  GET  /pablo-api/clock   -> {"now": iso}
  POST /pablo-api/clock   {"to": iso} or {"by_seconds": n}, optional "step_seconds",
       "settle" -> advances in steps of at most step_seconds (default an hour), stopping
       also wherever an extension is due (`next_due`, e.g. a schedule's firing time), calling
       each extension's on_clock_advance(old, new) in order, waiting after each step for
       running Step Functions executions to end;
       returns {"old", "now", "steps", "events", "unsettled"}. Going back is refused (409).
  GET  /pablo-api/esm       -> per event source mapping: invocations, records, failures
  POST /pablo-api/esm/drain {"timeout": s} -> waits until every mapped stream is processed
  GET  /pablo-api/iam/usage -> under IAM enforcement, per role: actions used, denied, and
       grants no request used (`pablo.local.iam.usage_report`)
       up to its latest record; {"drained": bool, "stats": {...}}

Run it with `pablo local up`, or `python -m pablo.local.server --port P`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from werkzeug.serving import make_server

from pablo.local import iam, moto_patches
from pablo.local.alarms import AlarmEvaluator
from pablo.local.athena import AthenaSql
from pablo.local.clock import Clock, parse_instant
from pablo.local.context import EmulatorContext, Extension
from pablo.local.esm import KinesisEventSourcePoller
from pablo.local.event_targets import EventTargetDelivery
from pablo.local.keep_alive import KeepAliveMiddleware, KeepAliveRequestHandler
from pablo.local.lambda_runtime import LambdaRuntime
from pablo.local.request_profile import RequestProfile, operation_of
from pablo.local.schedules import ScheduleRunner
from pablo.local.service_metrics import ServiceMetrics
from pablo.local.state import DEFAULT_PORT, EmulatorState, clear_state, save_state

LOG = logging.getLogger("pablo.local.server")

BIND_ADDRESS: Final = "127.0.0.1"
ENDPOINT_HOST: Final = "localhost"  # moto reads a TemplateURL as bucket/key only for this host
CONTROL_PREFIX: Final = "/pablo-api/"
# How long a stop may take before the process exits regardless; below the time
# `pablo local down` waits before it resorts to SIGKILL (pablo.local.cli).
STOP_GRACE_SECONDS: Final = 10.0
ExtensionFactory = Callable[[], Extension]
# After the Lambda runtime, in this order (each tick calls them so).
EXTENSIONS: Final[tuple[ExtensionFactory, ...]] = (
    KinesisEventSourcePoller,
    ScheduleRunner,
    # Before the alarms: what a tick publishes is there when they evaluate.
    ServiceMetrics,
    AlarmEvaluator,
    EventTargetDelivery,
    AthenaSql,
)
DEFAULT_STEP_SECONDS: Final = 3600.0
DEFAULT_DRAIN_SECONDS: Final = 60.0
ESM_EXTENSION: Final = "kinesis-esm"
EVENT_TARGETS_EXTENSION: Final = "event-targets"
SETTLE_TIMEOUT_SECONDS: Final = 900.0
# A settle ends this long at most after the last execution does (a few hundred settles a
# demo: at 0.1 s they waited ~50 ms each for nothing); a poll costs microseconds.
SETTLE_POLL_SECONDS: Final = 0.02
LOG_PATH_ENV: Final = "PABLO_LOCAL_SERVER_LOG"  # set by `pablo local up --detach`

StartResponse = Callable[..., Any]


def running_executions() -> int:
    """Step Functions executions still RUNNING, over every account and region."""
    count = 0
    for regions in list(stepfunctions_parser_backends.values()):
        for backend in list(regions.values()):
            for machine in list(backend.state_machines):
                count += sum(1 for e in list(machine.executions) if e.status == "RUNNING")
    return count


class Emulator:
    """Clock, extensions and the control API around one moto server."""

    def __init__(
        self,
        *,
        clock: Clock,
        extensions: Sequence[ExtensionFactory] = EXTENSIONS,
        enforce_iam: bool = False,
    ) -> None:
        self.clock = clock
        self.enforce_iam = enforce_iam
        self.extensions: list[Extension] = [LambdaRuntime()]
        self.extensions += [factory() for factory in extensions]
        self.endpoint = ""
        self._server: _Server | None = None
        self._tick_lock = threading.Lock()
        self._covered = clock.now()  # on_clock_advance has been called up to this instant
        # Wall seconds the clock spent in each extension (next_due + on_clock_advance) and
        # waiting for the work of its steps ("settle"): where a replay's time goes.
        self.tick_seconds: dict[str, float] = {}
        self.requests = RequestProfile()  # AWS API requests served over HTTP, by operation

    # lifecycle
    def start(self, port: int) -> str:
        moto_patches.install_patches(self.clock, task_client=iam.task_client)
        if self.enforce_iam:  # before the first request: nothing runs unchecked
            iam.enforce()
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        self._server = _Server(self, port)
        self._server.start()
        bound = self._server.get_host_and_port()[1]
        # Where moto's Step Functions tasks would call over HTTP; they call in process
        # (moto_patches.stepfunctions), but moto reads it whenever its route is off.
        os.environ["MOTO_PORT"] = str(bound)
        self.endpoint = f"http://{ENDPOINT_HOST}:{bound}"
        # Extensions call moto in this process, without HTTP (moto_patches.stepfunctions).
        ctx = EmulatorContext(endpoint=self.endpoint, clock=self.clock, in_process=True)
        for extension in self.extensions:
            extension.start(ctx)
        LOG.info("emulator listening on %s", self.endpoint)
        return self.endpoint

    def stop(self) -> None:
        """No new request, no new invocation, every running one ended, then the extensions
        in reverse order: an extension waiting for its deliveries (a Lambda invocation of up
        to 15 minutes) must not hold the shutdown."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        runtime = self.extension(LambdaRuntime.name)
        if isinstance(runtime, LambdaRuntime):
            runtime.close()
        for extension in reversed(self.extensions):
            try:
                extension.stop()
            except Exception:
                LOG.exception("extension %s failed to stop", extension.name)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU (user + system) so far of this process (moto and the extensions, one GIL)
        and of the Lambda workers (ended ones, and idle ones; one busy now is left out)."""
        times = os.times()
        workers = times.children_user + times.children_system
        runtime = self.extension(LambdaRuntime.name)
        if isinstance(runtime, LambdaRuntime):
            workers += sum(_process_cpu_seconds(pid) for pid in runtime.idle_worker_pids())
        return {"emulator": round(times.user + times.system, 1), "lambda": round(workers, 1)}

    def extension(self, name: str) -> Extension | None:
        return next((e for e in self.extensions if e.name == name), None)

    # control API
    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "pid": os.getpid(),
            "endpoint": self.endpoint,
            "clock": self.clock.now().isoformat(),
            "cpu_seconds": self.cpu_seconds(),
            # list(): one atomic copy, the ticking thread may add a name meanwhile
            "tick_seconds": {name: round(s, 1) for name, s in list(self.tick_seconds.items())},
            "extensions": [extension.name for extension in self.extensions],
            "patches": moto_patches.applied(),
            "http_requests": self.requests.requests,
            "http_profile": self.requests.report(),
            "iam_enforced": iam.enforcing(),
        }

    def advance(
        self,
        target: datetime,
        *,
        step: timedelta = timedelta(seconds=DEFAULT_STEP_SECONDS),
        settle: bool = True,
    ) -> dict[str, Any]:
        """Move the clock to `target` in steps; each extension sees every step in order."""
        if step <= timedelta(0):
            raise ValueError("step_seconds must be positive")
        with self._tick_lock:
            old = self.clock.now()
            if target < old:
                self.clock.advance_to(target)  # raises the clock's own "cannot go back"
            events: list[dict[str, Any]] = []
            steps = 0
            unsettled = 0
            # Steps are counted from now; the first one also covers the time that passed
            # since the last tick, so no instant is ever skipped or given twice.
            boundary = old
            while True:
                window_start = self._covered
                boundary = self._next_stop(window_start, min(target, boundary + step))
                window_end = self.clock.advance_at_least(boundary)
                for extension in self.extensions:
                    with self._timed(extension.name):
                        events += self._notify(extension, window_start, window_end)
                self._covered = window_end
                steps += 1
                if settle:
                    with self._timed("settle"):
                        unsettled = self._settle()
                if window_end >= target:
                    break
            return {
                "old": old.isoformat(),
                "now": self.clock.now().isoformat(),
                "steps": steps,
                "events": events,
                "unsettled": unsettled,
            }

    def _next_stop(self, after: datetime, until: datetime) -> datetime:
        """`until`, or the first instant before it at which an extension needs the clock to
        stop (`next_due`: a schedule's firing time), so what fires then runs at its time."""
        stop = until
        for extension in self.extensions:
            next_due = getattr(extension, "next_due", None)
            if next_due is None:
                continue
            try:
                with self._timed(extension.name):
                    due = next_due(after, stop)
            except Exception:  # as in _notify: one extension's bug must not stop the clock
                LOG.exception("extension %s failed to say when it is next due", extension.name)
                continue
            if due is not None and after < due < stop:
                stop = due
        return stop

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.tick_seconds[name] = self.tick_seconds.get(name, 0.0) + spent

    @staticmethod
    def _notify(extension: Extension, old: datetime, new: datetime) -> list[dict[str, Any]]:
        try:
            result = extension.on_clock_advance(old, new)
        except Exception as exc:  # one extension's bug must not stop the clock for the rest
            LOG.exception("extension %s failed on clock advance", extension.name)
            return [{"extension": extension.name, "error": f"{type(exc).__name__}: {exc}"}]
        if not result:
            return []
        return [{"extension": extension.name, **event} for event in result]

    def _settle(self, timeout: float = SETTLE_TIMEOUT_SECONDS) -> int:
        """Wait for the work a step started before the next step: EventBridge deliveries
        (files that landed trigger functions) and running Step Functions executions."""
        deadline = time.monotonic() + timeout
        deliveries: Any = self.extension(EVENT_TARGETS_EXTENSION)
        if deliveries is not None:
            deliveries.drain(timeout)
        while (count := running_executions()) and time.monotonic() < deadline:
            time.sleep(SETTLE_POLL_SECONDS)
        return count


def _process_cpu_seconds(pid: int) -> float:
    """user + system CPU of a live process, from /proc (0 where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # after the ")" closing the command: state is field 3, utime 14 and stime 15 (1-based)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ControlApi:
    """WSGI middleware: `/pablo-api/...` is ours, everything else goes to moto."""

    def __init__(self, app: Any, emulator: Emulator) -> None:
        self._app = app
        self._emulator = emulator

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(CONTROL_PREFIX):
            started = time.thread_time()
            try:
                return self._app(environ, start_response)
            finally:
                self._emulator.requests.add(operation_of(environ), time.thread_time() - started)
        method = environ.get("REQUEST_METHOD", "GET")
        route = path[len(CONTROL_PREFIX) :].strip("/")
        try:
            status, body = self._route(method, route, environ)
        except ValueError as exc:
            status, body = 409, {"error": str(exc)}
        except Exception as exc:
            LOG.exception("control API %s %s failed", method, path)
            status, body = 500, {"error": f"{type(exc).__name__}: {exc}"}
        data = json.dumps(body).encode()
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    def _route(self, method: str, route: str, environ: dict[str, Any]) -> tuple[int, Any]:
        emulator = self._emulator
        if route == "health" and method == "GET":
            return 200, emulator.health()
        if route == "clock" and method == "GET":
            return 200, {"now": emulator.clock.now().isoformat()}
        if route == "clock" and method == "POST":
            request = _read_json(environ)
            return 200, emulator.advance(
                _target(request, emulator.clock),
                step=timedelta(seconds=float(request.get("step_seconds", DEFAULT_STEP_SECONDS))),
                settle=bool(request.get("settle", True)),
            )
        if route.startswith("esm"):
            return self._esm(method, route, environ)
        if route == "iam/usage" and method == "GET":
            return 200, {"enforced": iam.enforcing(), "principals": iam.usage_report()}
        return 404, {"error": f"no such control endpoint: {method} /pablo-api/{route}"}

    def _esm(self, method: str, route: str, environ: dict[str, Any]) -> tuple[int, Any]:
        poller: Any = self._emulator.extension(ESM_EXTENSION)
        if poller is None:
            return 404, {"error": f"the {ESM_EXTENSION} extension is not loaded"}
        if route == "esm" and method == "GET":
            return 200, {"stats": poller.stats()}
        if route == "esm/drain" and method == "POST":
            timeout = float(_read_json(environ).get("timeout", DEFAULT_DRAIN_SECONDS))
            return 200, {"drained": poller.drain(timeout=timeout), "stats": poller.stats()}
        return 404, {"error": f"no such control endpoint: {method} /pablo-api/{route}"}


_REASONS = {200: "OK", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b"{}"
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    return body


def _target(request: dict[str, Any], clock: Clock) -> datetime:
    if "to" in request:
        return parse_instant(str(request["to"]))
    if "by_seconds" in request:
        return clock.now() + timedelta(seconds=float(request["by_seconds"]))
    raise ValueError('give "to" (ISO time) or "by_seconds"')


class _Server(ThreadedMotoServer):
    """moto's threaded server with the control API in front of its WSGI app."""

    def __init__(self, emulator: Emulator, port: int) -> None:
        super().__init__(ip_address=BIND_ADDRESS, port=port, verbose=False)
        self._emulator = emulator

    def _server_entry(self) -> None:
        app = ControlApi(DomainDispatcherApplication(create_backend_app), self._emulator)
        self._server = make_server(
            self._ip_address,
            self._port,
            KeepAliveMiddleware(app),
            True,
            request_handler=KeepAliveRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def serve(
    *, port: int, clock_start: datetime | None, record_state: bool, enforce_iam: bool = False
) -> int:
    """Run the emulator until SIGTERM or SIGINT; record it in the state file meanwhile.

    On the signal it stops within STOP_GRACE_SECONDS: requests refused, Lambda environments
    ended (busy ones too), extensions stopped, state file removed. Nothing survives it: the
    emulator keeps no state across a restart. If stopping hangs past the grace, the process
    exits anyway (status 1), state file removed, so `pablo local down` never needs SIGKILL."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    emulator = Emulator(clock=Clock(clock_start), enforce_iam=enforce_iam)
    endpoint = emulator.start(port)
    bound = int(endpoint.rsplit(":", 1)[1])
    if record_state:
        log_path = os.environ.get(LOG_PATH_ENV)
        started = datetime.now(UTC).isoformat()
        save_state(EmulatorState(endpoint, bound, os.getpid(), started, log_path))
    print(f"pablo emulator listening on {endpoint} (pid {os.getpid()})", flush=True)
    try:
        stop.wait()
    finally:
        why = signal.Signals(received[0]).name if received else "shutdown"
        LOG.info("stopping on %s", why)
        watchdog = threading.Timer(
            STOP_GRACE_SECONDS, _exit_now, kwargs={"record_state": record_state}
        )
        watchdog.daemon = True
        watchdog.start()
        emulator.stop()
        watchdog.cancel()
        if record_state:
            clear_state(pid=os.getpid())
        LOG.info("emulator stopped")
        _exit_now(code=0, record_state=False)
    return 0  # not reached: the process ends above


def _exit_now(*, code: int = 1, record_state: bool) -> None:
    """End the process now. Once the emulator has stopped, threads moto started and never
    ends (its Step Functions executors, a request thread still reading) would otherwise
    hold the interpreter's exit for as long as they run: nothing of them is kept anyway."""
    if code:
        LOG.error("the emulator did not stop within %.0f s: exiting anyway", STOP_GRACE_SECONDS)
    if record_state:
        clear_state(pid=os.getpid())
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pablo.local.server")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--clock-start", type=parse_instant, default=None)
    parser.add_argument("--no-state", action="store_true", help="do not write the state file")
    parser.add_argument("--enforce-iam", action="store_true", help="check every request's IAM")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return serve(
        port=args.port,
        clock_start=args.clock_start,
        record_state=not args.no_state,
        enforce_iam=args.enforce_iam,
    )


if __name__ == "__main__":
    sys.exit(main())
