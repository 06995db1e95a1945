"""The `pablo` command line's parsers, one module per command group.

Each module exposes `register(subparsers)` and imports only the standard library and
light project modules (constants, enums): `pablo --help` and every `--help` build the
whole parser without boto3, pyarrow, DuckDB, moto or CDK. What a command does lives in
the module its `Handler` names, imported only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

CommandFunction = Callable[[argparse.Namespace], "int | None"]


@dataclass(frozen=True)
class Handler:
    """A command's function, named `module:function`, imported when the command runs.

    A wrong name fails at that moment with the import's own error (and in the tests, which
    resolve every handler the parser names)."""

    target: str

    def __call__(self, args: argparse.Namespace) -> int | None:
        return self.resolve()(args)

    def resolve(self) -> CommandFunction:
        module_name, _, function_name = self.target.partition(":")
        function = getattr(importlib.import_module(module_name), function_name)
        if not callable(function):
            raise TypeError(f"{self.target} is not a function")
        return cast(CommandFunction, function)
