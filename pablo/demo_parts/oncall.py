"""The on-call part of the demo: at the end, the alarms that fired during the run with their
owners and runbooks (`pablo.oncall.alarm_summary_lines`), and the commands to follow up.

Nothing per step: the alarms' state-update history is read once, after the replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from functions.core.errors import PabloError
from pablo.oncall import alarm_summary_lines

NEXT_COMMANDS: Final = (
    "pablo oncall status",
    "pablo oncall handoff",
    "pablo oncall rotation",
)


@dataclass
class OnCallDemo:
    name: str = "oncall"
    endpoint: str | None = None

    def start(self, run: Any) -> None:
        self.endpoint = run.endpoint

    def on_step(self, cursor: datetime) -> None:
        """Nothing to do while the clock moves."""

    def finish(self) -> dict[str, Any]:
        if self.endpoint is None:
            return {"alarms": [], "error": "the demo did not start this part"}
        try:
            lines = alarm_summary_lines(self.endpoint)
        except PabloError as exc:
            return {"alarms": [], "error": str(exc)}
        return {"alarms": lines, "next": list(NEXT_COMMANDS)}

    def lines(self, section: dict[str, Any]) -> list[str]:
        if section.get("error"):
            return [f"on-call summary unavailable: {section['error']}"]
        found: list[str] = list(section.get("alarms", []))
        found.append("next: " + "; ".join(f"`{c}`" for c in section.get("next", [])))
        return found
