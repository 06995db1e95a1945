"""`pablo oncall ...`: the parsers (the commands: pablo.oncall)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Final

from functions.core.schemas import Pipeline
from pablo.commands import Handler
from pablo.query.output import CSV, JSON, TEXT, add_format_argument
from pablo.stack import add_target_arguments

ROTATION_PATH: Final = Path(__file__).resolve().parents[2] / "config" / "oncall_rotation.json"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("oncall", help="alarms, acknowledgements, rotation, replays")
    commands = parser.add_subparsers(dest="oncall_command", required=True, metavar="COMMAND")

    status = commands.add_parser("status", help="alarms in ALARM or INSUFFICIENT_DATA")
    add_format_argument(status, (TEXT, CSV, JSON))
    add_target_arguments(status)
    status.set_defaults(func=Handler("pablo.oncall:cmd_status"))

    ack = commands.add_parser("ack", help="acknowledge an alarm and mute it until OK")
    ack.add_argument("alarm", help="alarm name or inventory key (e.g. click-freshness)")
    ack.add_argument("--by", required=True, help="who acknowledges")
    ack.add_argument("--note", default="", help="what is being done")
    add_target_arguments(ack)
    ack.set_defaults(func=Handler("pablo.oncall:cmd_ack"))

    for name, function, text in (
        ("rotation", "cmd_rotation", "who owns each pipeline this week and next"),
        ("handoff", "cmd_handoff", "the weekly handover note"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "--week", type=date.fromisoformat, help="a day of the week (YYYY-MM-DD); default now"
        )
        sub.add_argument("--config", type=Path, default=ROTATION_PATH, help="rotation JSON")
        add_target_arguments(sub)
        sub.set_defaults(func=Handler(f"pablo.oncall:{function}"))

    replay = commands.add_parser("replay-quarantine", help="re-send quarantined records")
    replay.add_argument(
        "--pipeline", required=True, choices=[p.value for p in Pipeline], help="pipeline"
    )
    replay.add_argument("--reason", required=True, help="reason code of the records to re-send")
    replay.add_argument("--dry-run", action="store_true", help="say what would be re-sent")
    replay.add_argument("--by", default="pablo oncall", help="who replays (recorded)")
    add_target_arguments(replay)
    replay.set_defaults(func=Handler("pablo.oncall:cmd_replay"))
