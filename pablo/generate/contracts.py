"""The raw inputs the company sends, derived from the schema registry (never respelled).

Each raw_* registry table holds the fields the company sends plus columns the pipeline adds
on landing (where it came from, when it arrived, its hash). `sent_fields` is the registry's
column list minus those; partition keys (month, dt, experiment) live in paths and are never
sent either. docs/data-contracts.md documents exactly these fields (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from functions.core import schemas
from functions.core.schemas import Table

# Columns of raw tables that the pipeline fills in, not the company.
PIPELINE_ADDED_COLUMNS: tuple[str, ...] = (
    "source_key",
    "arrival_time",
    "shard_id",
    "sequence_number",
)


class Format(StrEnum):
    JSON_LINES = "jsonl"
    CSV = "csv"
    KINESIS_JSON = "kinesis-json"  # one JSON object per Kinesis record


@dataclass(frozen=True)
class InputContract:
    """One raw input: its registry table, wire format, landing place and generator folder."""

    name: str
    table: Table
    format: Format
    landing: str  # where the company delivers it (documented template)
    generator_path: str  # where `pablo generate` writes it under --out

    @property
    def sent_fields(self) -> tuple[str, ...]:
        return tuple(c for c in self.table.column_names if c not in PIPELINE_ADDED_COLUMNS)

    @property
    def added_fields(self) -> tuple[str, ...]:
        added = [c for c in self.table.column_names if c in PIPELINE_ADDED_COLUMNS]
        return (*added, *self.table.partition_names)


CLICKS = InputContract(
    name="clicks",
    table=schemas.RAW_CLICKS,
    format=Format.KINESIS_JSON,
    landing="Kinesis data stream <ClickStreamName>, partition key = account_id",
    generator_path="clicks/YYYY-MM-DD.replay.jsonl",
)
ACCOUNT_EVENTS = InputContract(
    name="account_events",
    table=schemas.RAW_ACCOUNT_EVENTS,
    format=Format.JSON_LINES,
    landing="s3://<landing bucket>/account_events/YYYY/MM/DD/<file>.jsonl",
    generator_path="account_events/YYYY-MM-DD.jsonl",
)
INVOICES = InputContract(
    name="invoices",
    table=schemas.RAW_INVOICES,
    format=Format.CSV,
    landing="s3://<landing bucket>/invoices/YYYY-MM/<file>.csv",
    generator_path="invoices/YYYY-MM.csv",
)
EXPENSES = InputContract(
    name="expenses",
    table=schemas.RAW_EXPENSES,
    format=Format.CSV,
    landing="s3://<landing bucket>/expenses/YYYY-MM/<file>.csv",
    generator_path="expenses/YYYY-MM.csv",
)
SALARIES = InputContract(
    name="salaries",
    table=schemas.RAW_SALARIES,
    format=Format.CSV,
    landing="s3://<finance bucket>/landing/salaries/YYYY-MM/<file>.csv",
    generator_path="salaries/YYYY-MM.csv",
)
LEDGER = InputContract(
    name="ledger",
    table=schemas.RAW_LEDGER,
    format=Format.CSV,
    landing="s3://<finance bucket>/landing/ledger/YYYY-MM/<file>.csv",
    generator_path="ledger/YYYY-MM.csv",
)
EXPERIMENTS = InputContract(
    name="experiments",
    table=schemas.RAW_EXPERIMENTS,
    format=Format.CSV,
    landing="s3://<landing bucket>/experiments/<file>.csv",
    generator_path="experiments/experiments.csv",
)
ASSIGNMENTS = InputContract(
    name="assignments",
    table=schemas.RAW_ASSIGNMENTS,
    format=Format.JSON_LINES,
    landing="s3://<landing bucket>/assignments/YYYY/MM/DD/<file>.jsonl",
    generator_path="assignments/YYYY-MM-DD.jsonl",
)

INPUTS: tuple[InputContract, ...] = (
    CLICKS,
    ACCOUNT_EVENTS,
    INVOICES,
    EXPENSES,
    SALARIES,
    LEDGER,
    EXPERIMENTS,
    ASSIGNMENTS,
)


def contract(name: str) -> InputContract:
    for item in INPUTS:
        if item.name == name:
            return item
    raise KeyError(f"unknown input {name!r}; known: {', '.join(i.name for i in INPUTS)}")
