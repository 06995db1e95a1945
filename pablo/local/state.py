"""Where the running emulator is recorded: `$PABLO_HOME/local/state.json` (default `./.pablo`).

The server writes the file once it listens and removes it when it stops; `pablo local
status/down/tick/deploy` read it to find the endpoint and the pid.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from functions.core.errors import PabloError

PABLO_HOME_ENV: Final = "PABLO_HOME"
SERVER_MODULE: Final = "pablo.local.server"
DEFAULT_PORT: Final = 5000


class EmulatorNotRunningError(PabloError):
    """No emulator is running (no state file, or its process is gone)."""

    reason = "emulator_not_running"


class EmulatorAlreadyRunningError(PabloError):
    """An emulator is already running, or its port is taken."""

    reason = "emulator_running"


@dataclass(frozen=True)
class EmulatorState:
    endpoint: str
    port: int
    pid: int
    started_at: str
    log_path: str | None = None


def pablo_home() -> Path:
    return Path(os.environ.get(PABLO_HOME_ENV) or Path.cwd() / ".pablo")


def local_dir() -> Path:
    """The emulator's own folder: state file, server log, Lambda code cache."""
    return pablo_home() / "local"


def state_path() -> Path:
    return local_dir() / "state.json"


def load_state() -> EmulatorState | None:
    path = state_path()
    if not path.is_file():
        return None
    try:
        return EmulatorState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise EmulatorNotRunningError(f"unreadable emulator state {path}: {exc}") from exc


def save_state(state: EmulatorState) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n")
    partial.replace(path)  # atomic: a reader never sees half a file


def clear_state(*, pid: int | None = None) -> None:
    """Remove the state file; with `pid`, only if it still records that process."""
    path = state_path()
    if pid is not None:
        current = load_state()
        if current is None or current.pid != pid:
            return
    path.unlink(missing_ok=True)


def is_emulator_process(pid: int) -> bool:
    """True if `pid` is alive and is an emulator server (guards against pid reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # no /proc (macOS): trust the live pid
        return True
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    names = [arg.decode(errors="replace") for arg in args]
    if SERVER_MODULE in names:  # `python -m pablo.local.server` (detached `up`, tests)
        return True
    # `pablo local up` in the foreground (console script or `python -m pablo`)
    return "local" in names and "up" in names and any(Path(n).name == "pablo" for n in names)


def running_state() -> EmulatorState:
    """The live emulator's state, or a one-line error saying why there is none."""
    state = load_state()
    if state is None:
        raise EmulatorNotRunningError(
            f"the emulator is not running (no {state_path()}); start it with `pablo local up`"
        )
    if not is_emulator_process(state.pid):
        clear_state()
        raise EmulatorNotRunningError(
            f"the emulator is not running: pid {state.pid} recorded in {state_path()} "
            "is gone (stale state removed); start it with `pablo local up`"
        )
    return state
