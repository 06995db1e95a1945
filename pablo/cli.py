"""The `pablo` command: one entry point, one parser module per command group.

Each module in COMMAND_MODULES (pablo/commands/) exposes `register(subparsers)`, which adds
its commands with only light imports and names the function each runs (`Handler`): the
whole parser, and so every `--help`, costs no import of boto3, pyarrow, DuckDB, moto or CDK.

The output convention: errors are one line on stderr (`pablo: ...`, never a traceback for an
error of this project or of AWS); exit code 0 on success, 1 when the operation failed,
2 when the command line or the configuration is wrong (`exit_code`, as argparse does for
usage errors).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, Final, NoReturn

from functions.core.errors import ConfigurationError, PabloError, ValidationError

DISTRIBUTION: Final = "pablo-pipelines"
COMMAND_MODULES: tuple[str, ...] = (
    "pablo.commands.generate",
    "pablo.commands.local",
    "pablo.commands.send_clicks",
    "pablo.commands.backfill",
    "pablo.commands.finance",
    "pablo.commands.run",
    "pablo.commands.oncall",
    "pablo.commands.report",
    "pablo.commands.demo",
    "pablo.commands.query",
    "pablo.commands.smoke",
    "pablo.commands.validate",
)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # the operation was tried and failed
EXIT_USAGE: Final = 2  # the command line or the configuration is wrong: retrying cannot help
EXIT_INTERRUPTED: Final = 130
# Errors that say the command line or the deployment's configuration is wrong.
USAGE_ERRORS: Final = (ConfigurationError, ValidationError)


def exit_code(error: BaseException) -> int:
    """The exit code of a command that raised `error`."""
    return EXIT_USAGE if isinstance(error, USAGE_ERRORS) else EXIT_FAILED


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in (
            action.help or ""
        ):
            return action.help
        return super()._get_help_string(action)


class PabloArgumentParser(argparse.ArgumentParser):
    """Every parser of the command line, the subcommands' included (argparse makes them of
    the parent's class): defaults in the help, a usage error in one line with exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


class VersionAction(argparse.Action):
    """`--version`: the installed distribution's version, read only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> NoReturn:
        from importlib.metadata import version  # noqa: PLC0415

        print(f"{parser.prog} {version(DISTRIBUTION)}")
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    parser = PabloArgumentParser(
        prog="pablo", description="Pablo Inc growth pipelines: local emulator, data and tools"
    )
    parser.add_argument(
        "--version", action=VersionAction, help=f"print the version of {DISTRIBUTION}"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except PabloError as exc:
        return _failed(exc)
    except KeyboardInterrupt:
        print("pablo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader left (`pablo ... | head`): nothing is wrong; stdout is pointed at
        # /dev/null so that the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if not _is_aws_error(exc):
            raise  # a bug: its traceback is what a maintainer needs
        return _failed(exc)
    return int(result or EXIT_OK)


def _failed(error: Exception) -> int:
    text = " ".join(str(error).split()) or type(error).__name__
    print(f"pablo: {text}", file=sys.stderr)
    return exit_code(error)


def _is_aws_error(error: Exception) -> bool:
    """An error of the AWS SDK (no credentials, endpoint unreachable, a refused call).

    Only botocore can raise one, so it is looked up among the modules already loaded."""
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:
        return False
    return isinstance(error, exceptions.BotoCoreError | exceptions.ClientError)


if __name__ == "__main__":
    sys.exit(main())
