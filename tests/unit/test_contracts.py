"""docs/data-contracts.md and the schema registry cannot drift apart."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from functions.core import schemas
from functions.core.ingest import clicks
from pablo.generate.contracts import INPUTS, PIPELINE_ADDED_COLUMNS, InputContract
from pablo.generate.model import PRICE_PER_SEAT_CENTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-contracts.md"
FIELD_TABLE = re.compile(r"^\| field \| type \|.*?\n\n", re.MULTILINE | re.DOTALL)
FIELD_ROW = re.compile(r"^\| `([a-z_]+)` \|", re.MULTILINE)
ENUMS_BY_INPUT: dict[str, tuple[tuple[str, ...], ...]] = {
    "clicks": (schemas.CLICK_EVENT_TYPES,),
    "account_events": (schemas.ACCOUNT_EVENT_TYPES, schemas.PLANS),
    "invoices": (schemas.INVOICE_STATUSES,),
    "expenses": (schemas.EXPENSE_CATEGORIES, schemas.TEAMS),
    "salaries": (schemas.TEAMS,),
    "ledger": (schemas.LEDGER_LINES,),
    "experiments": (schemas.UNIT_TYPES,),
    "assignments": (schemas.UNIT_TYPES,),
}


def _section(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/data-contracts.md has no '## {name}' section"
    return match.group(1)


@pytest.mark.parametrize("contract", INPUTS, ids=lambda c: c.name)
def test_the_doc_lists_exactly_the_sent_fields_in_registry_order(contract: InputContract) -> None:
    # Given the input's section of the contract page
    section = _section(contract.name)
    # When its field table is read
    table = FIELD_TABLE.search(section)
    assert table, f"{contract.name} has no field table"
    documented = tuple(FIELD_ROW.findall(table.group(0)))
    # Then it lists every field the company sends, as named in the registry, and no other
    assert documented == contract.sent_fields


@pytest.mark.parametrize("contract", INPUTS, ids=lambda c: c.name)
def test_the_doc_names_the_fields_the_pipeline_adds(contract: InputContract) -> None:
    section = _section(contract.name)
    for name in contract.added_fields:
        assert f"`{name}`" in section, f"{contract.name}: pipeline-added {name} not named"
    assert not set(contract.sent_fields) & set(PIPELINE_ADDED_COLUMNS)


@pytest.mark.parametrize("contract", INPUTS, ids=lambda c: c.name)
def test_the_doc_lists_every_allowed_value_and_the_landing_place(contract: InputContract) -> None:
    section = _section(contract.name)
    for enumeration in ENUMS_BY_INPUT[contract.name]:
        for value in enumeration:
            assert f"`{value}`" in section, f"{contract.name}: allowed value {value} missing"
    assert contract.landing.split("<")[0].split(" ")[0] in DOC.read_text(encoding="utf-8")
    assert "Reason codes" in section


@pytest.mark.parametrize("contract", INPUTS, ids=lambda c: c.name)
def test_the_doc_example_has_exactly_the_sent_fields(contract: InputContract) -> None:
    # Given the first example block of the section
    section = _section(contract.name)
    block = re.search(r"```(json|csv)\n(.*?)```", section, re.DOTALL)
    assert block, f"{contract.name} has no example"
    kind, body = block.group(1), block.group(2).strip().splitlines()
    # Then its keys (JSON) or header (CSV) are the sent fields, in order
    if kind == "json":
        assert tuple(json.loads(body[0])) == contract.sent_fields
    else:
        assert tuple(body[0].split(",")) == contract.sent_fields
        assert all(len(line.split(",")) == len(contract.sent_fields) for line in body[1:])


def test_every_raw_registry_table_is_a_documented_input() -> None:
    raw_tables = {t.name for t in schemas.TABLES if t.name.startswith("raw_")}
    assert raw_tables == {c.table.name for c in INPUTS}


def test_the_doc_states_the_list_prices_and_the_reporting_currency() -> None:
    text = DOC.read_text(encoding="utf-8")
    for plan, cents in PRICE_PER_SEAT_CENTS.items():
        assert f"`{plan}` {cents} cents" in text
    assert f"`{schemas.REPORTING_CURRENCY}`" in text


def _table_rows(section: str, header: str) -> list[list[str]]:
    """The rows of the markdown table under `header` in `section`, cells stripped."""
    start = section.index(header)
    lines = section[start:].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_the_click_limits_in_the_doc_are_the_registry_limits() -> None:
    # Given the limits table of the clicks section
    rows = _table_rows(_section("clicks"), "| limit | value |")
    # When its names and values are read
    documented = {name.strip("`"): int(value) for name, value, _ in rows}
    # Then they are exactly the registry's, and the id rule for every input says the same
    assert documented == dataclasses.asdict(schemas.CLICK_LIMITS)
    text = DOC.read_text(encoding="utf-8")
    assert f"at most {schemas.CLICK_LIMITS.max_id_chars} characters" in text


def test_the_click_reason_codes_in_the_doc_are_the_code_ones_in_check_order() -> None:
    rows = _table_rows(_section("clicks"), "| reason | when |")
    assert tuple(reason.strip("`") for reason, _ in rows) == clicks.REASON_CODES
