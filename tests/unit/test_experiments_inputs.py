"""Experiment definitions and assignments: every line accepted, counted as an exact
duplicate or quarantined with the first reason code of the contract that applies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.core import experiment_definitions, schemas
from functions.core.ingest import experiments_inputs as ei
from pablo.generate.company import generate
from pablo.generate.model import GeneratorConfig

NOW = datetime(2026, 9, 10, 12, tzinfo=UTC)
HEADER = "experiment_id,variant,planned_weight,unit_type,start_date,owner"


def _definitions(*rows: str) -> ei.Outcome:
    body = "\n".join((HEADER, *rows)) + "\n"
    return ei.validate_definitions(body.encode(), source_key="experiments/e.csv")


def _reasons(outcome: ei.Outcome) -> list[tuple[int, str]]:
    return sorted((r.line, r.reason) for r in outcome.rejected)


DEFS = _definitions(
    "exp_a,control,0.5,user,2026-09-04,dev",
    "exp_a,treatment,0.5,user,2026-09-04,dev",
    "exp_b,control,1.0,account,2026-09-01,ana",
)
DEFINITIONS = experiment_definitions.definitions_from_table(DEFS.accepted)


def _assignment(**over: Any) -> dict[str, Any]:
    base = {
        "assignment_id": "a-1",
        "experiment_id": "exp_a",
        "variant": "control",
        "unit_type": "user",
        "unit_id": "user-1",
        "assigned_at": "2026-09-05T10:00:00Z",
    }
    return {**base, **over}


def _assignments(*lines: bytes | dict[str, Any], landed: Any = None) -> ei.Outcome:
    body = b"\n".join(
        line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines
    )
    return ei.validate_assignments(
        body + b"\n",
        source_key="assignments/2026/09/10/a.jsonl",
        now=NOW,
        definitions=DEFINITIONS,
        landed=landed or {},
    )


def test_valid_definitions_are_accepted_whole() -> None:
    assert DEFS.accepted.num_rows == 3 and not DEFS.rejected
    assert DEFINITIONS["exp_a"].weights == {"control": 0.5, "treatment": 0.5}
    assert DEFINITIONS["exp_a"].unit_type == "user"
    assert DEFS.accepted.schema == schemas.RAW_EXPERIMENTS.arrow_schema(with_partitions=True)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('e,"broken,0.5,user,2026-09-04,dev', "malformed_row"),
        ("e,control,0.5,user,2026-09-04", "malformed_row"),
        ("e,control,,user,2026-09-04,dev", "missing_field"),
        ("e/x,control,1,user,2026-09-04,dev", "wrong_type"),
        ("e,control,half,user,2026-09-04,dev", "wrong_type"),
        ("e,control,1,user,2026-02-30,dev", "invalid_date"),
        ("e,control,1,session,2026-09-04,dev", "unknown_unit_type"),
        ("e,control,1.5,user,2026-09-04,dev", "invalid_weight"),
    ],
)
def test_a_bad_definition_row_gets_its_reason(row: str, reason: str) -> None:
    outcome = _definitions(row)
    assert _reasons(outcome) == [(2, reason)]
    assert outcome.accepted.num_rows == 0


def test_weights_not_summing_to_one_quarantine_the_whole_experiment() -> None:
    outcome = _definitions(
        "e,control,0.5,user,2026-09-04,dev",
        "e,treatment,0.4,user,2026-09-04,dev",
        "f,control,1,user,2026-09-04,dev",
    )
    assert _reasons(outcome) == [(2, "invalid_weight"), (3, "invalid_weight")]
    assert outcome.accepted.column("experiment_id").to_pylist() == ["f"]


def test_a_variant_twice_is_a_conflict_unless_identical() -> None:
    same = "e,control,0.5,user,2026-09-04,dev"
    outcome = _definitions(
        same, "e,treatment,0.5,user,2026-09-04,dev", same, "e,control,0.6,user,2026-09-04,x"
    )
    assert outcome.duplicates == 1
    assert _reasons(outcome) == [(5, "duplicate_id")]
    assert outcome.accepted.num_rows == 2


def test_rows_that_disagree_on_unit_type_or_start_are_quarantined() -> None:
    outcome = _definitions(
        "e,control,0.5,user,2026-09-04,dev",
        "e,treatment,0.5,account,2026-09-04,dev",
        "f,control,0.5,user,2026-09-04,dev",
        "f,treatment,0.5,user,2026-09-05,dev",
    )
    assert _reasons(outcome) == [
        (2, "unknown_unit_type"),
        (3, "unknown_unit_type"),
        (4, "invalid_date"),
        (5, "invalid_date"),
    ]


def test_a_wrong_header_quarantines_every_line() -> None:
    outcome = ei.validate_definitions(b"a,b\n1,2\n3,4\n", source_key="experiments/x.csv")
    assert _reasons(outcome) == [(2, "invalid_header"), (3, "invalid_header")]
    quarantine = outcome.quarantine(received_at=NOW)
    assert quarantine.column("raw").to_pylist() == [b"1,2\n", b"3,4\n"]
    assert set(quarantine.column("pipeline").to_pylist()) == {"experiment"}
    assert quarantine.column("record_id").to_pylist()[0] == "experiments/x.csv:2"


def test_valid_assignments_land_with_their_partition() -> None:
    outcome = _assignments(_assignment(), _assignment(assignment_id="a-2", unit_id="user-2"))
    assert outcome.accepted.num_rows == 2 and not outcome.rejected
    assert outcome.accepted.column("experiment").to_pylist() == ["exp_a", "exp_a"]
    assert outcome.accepted.column("source_key").to_pylist()[0].startswith("assignments/")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\xff\xfe", "invalid_utf8"),
        (b'{"assignment_id": ', "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"assignment_id": "x", "assignment_id": "y"}', "duplicate_json_key"),
        ({k: v for k, v in _assignment().items() if k != "unit_id"}, "missing_field"),
        (_assignment(variant=None), "null_field"),
        (_assignment(unit_id=7), "wrong_type"),
        (_assignment(unit_id=""), "invalid_id"),
        (_assignment(assigned_at="2026-09-05 10:00:00"), "invalid_timestamp"),
        (_assignment(assigned_at="2026-09-05T10:00:00+02:00"), "invalid_timestamp"),
        (_assignment(assigned_at="2026-09-11T10:00:00Z"), "future_timestamp"),
        (_assignment(experiment_id="nope"), "unknown_experiment"),
        (_assignment(variant="treatment_b"), "unknown_variant"),
        (_assignment(unit_type="account"), "unknown_unit_type"),
    ],
)
def test_a_bad_assignment_gets_its_reason(line: bytes | dict[str, Any], reason: str) -> None:
    outcome = _assignments(_assignment(assignment_id="ok"), line)
    assert _reasons(outcome) == [(2, reason)]
    assert outcome.accepted.num_rows == 1


def test_assignment_ids_resolve_within_the_file_and_against_other_files() -> None:
    first = ei.landed_contents(
        _assignments(_assignment(assignment_id="old")).accepted, except_key="other.jsonl"
    )
    outcome = _assignments(
        _assignment(),
        _assignment(),  # identical in the file: a duplicate
        _assignment(unit_id="user-9"),  # same id, other content: a conflict
        _assignment(assignment_id="old"),  # identical to another file's: a duplicate
        _assignment(assignment_id="old", variant="treatment"),  # a conflict with that file
        landed=first,
    )
    assert outcome.duplicates == 2
    assert _reasons(outcome) == [(3, "duplicate_id"), (5, "duplicate_id")]
    assert outcome.accepted.column("assignment_id").to_pylist() == ["a-1"]


def test_a_redelivered_file_is_checked_against_the_others_only() -> None:
    landed = _assignments(_assignment()).accepted
    again = ei.landed_contents(landed, except_key="assignments/2026/09/10/a.jsonl")
    assert _assignments(_assignment(), landed=again).accepted.num_rows == 1


def test_two_variants_for_one_unit_are_valid_input() -> None:
    outcome = _assignments(_assignment(), _assignment(assignment_id="a-2", variant="treatment"))
    assert outcome.accepted.num_rows == 2 and not outcome.rejected


def test_the_generated_files_are_quarantined_exactly_as_truth_says(tmp_path: Path) -> None:
    # Given a generated company with its injected bad definition and assignment lines
    truth = generate(GeneratorConfig(seed=3, accounts=8, days=12), tmp_path)
    expected = {
        (f["file"], f["line"], f["reason"])
        for f in truth["faults"]["malformed_records"]
        if f["input"] in ("experiments", "assignments")
    }
    # When every file is validated
    defs = ei.validate_definitions(
        (tmp_path / "experiments/experiments.csv").read_bytes(), source_key="e"
    )
    found = {("experiments/experiments.csv", r.line, r.reason) for r in defs.rejected}
    definitions = experiment_definitions.definitions_from_table(defs.accepted)
    accepted = 0
    for path in sorted((tmp_path / "assignments").glob("*.jsonl")):
        outcome = ei.validate_assignments(
            path.read_bytes(),
            source_key=path.name,
            now=datetime(2030, 1, 1, tzinfo=UTC),
            definitions=definitions,
            landed={},
        )
        found |= {(f"assignments/{path.name}", r.line, r.reason) for r in outcome.rejected}
        accepted += outcome.accepted.num_rows
    # Then exactly the injected lines are quarantined and every valid record is accepted
    assert found == expected
    assert set(definitions) == {e["experiment_id"] for e in truth["experiments"]}
    singles = sum(e["units"] for e in truth["experiments"])
    doubles = sum(len(e["multiple_variant_units"]) for e in truth["experiments"])
    assert accepted == singles + 2 * doubles
