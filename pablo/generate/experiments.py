"""Experiment definitions and assignments, with a sample ratio mismatch and double assignments.

Units are shuffled, then allocated by exact quotas (largest remainder) of the planned split,
so a healthy experiment shows no mismatch by chance, while `search_ranking_v2` is allocated
60/40 against a planned 50/50. A couple of accounts of `onboarding_checklist` are assigned to
both variants (to be excluded by the pipeline). Expected chi-square and p-values are computed
here with the closed forms for 1 and 2 degrees of freedom.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pablo.generate.accounts import Account
from pablo.generate.contracts import ASSIGNMENTS, EXPERIMENTS
from pablo.generate.model import (
    ACCESS_STATUSES,
    HOUR,
    GeneratorConfig,
    day_start,
    iso_z,
    new_uuid,
    working_time,
)
from pablo.generate.output import OutputTree
from pablo.generate.records import Row, bad, interleave, write_csv_rows, write_json_rows

SRM_P_THRESHOLD = 0.001
EXPOSURE_DAYS = 7


@dataclass(frozen=True)
class ExperimentPlan:
    experiment_id: str
    unit_type: str
    planned_percent: tuple[tuple[str, int], ...]
    start_offset_days: int
    owner: str
    actual_percent: tuple[int, ...] | None = None  # a deliberate sample ratio mismatch
    double_assigned: int = 0


PLANS: tuple[ExperimentPlan, ...] = (
    ExperimentPlan(
        "onboarding_checklist",
        "account",
        (("control", 50), ("treatment", 50)),
        2,
        "maria.lopez",
        double_assigned=2,
    ),
    ExperimentPlan(
        "search_ranking_v2",
        "user",
        (("control", 50), ("treatment", 50)),
        3,
        "dev.patel",
        actual_percent=(60, 40),
    ),
    ExperimentPlan(
        "pricing_page_copy",
        "account",
        (("control", 50), ("short_copy", 25), ("long_copy", 25)),
        4,
        "ana.silva",
    ),
)


def chi_square_p_value(observed: list[int], expected: list[float]) -> tuple[float, float]:
    """Pearson chi-square and its p-value (closed forms for 1 or 2 degrees of freedom)."""
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True) if e > 0)
    dof = len(observed) - 1
    if dof == 1:
        return chi2, math.erfc(math.sqrt(chi2 / 2))
    if dof == 2:
        return chi2, math.exp(-chi2 / 2)
    raise ValueError(f"no closed form for {dof} degrees of freedom")


def quotas(n: int, percents: tuple[int, ...]) -> list[int]:
    """Split n units by percents, largest remainder first (ties: earlier variant)."""
    exact = [n * p / 100 for p in percents]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(percents)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def write_experiments(
    rng: random.Random, config: GeneratorConfig, tree: OutputTree, accounts: list[Account]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Returns (per-experiment truth, malformed-row faults, valid assignment records)."""
    faults = _write_definitions(rng, config, tree)
    by_day: dict[date, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    truths: list[dict[str, Any]] = []
    for plan in PLANS:
        truth, records = _assign(rng, config, accounts, plan)
        truths.append(truth)
        for when, record in records:
            by_day[when.date()].append((when, record))
    valid = sum(len(v) for v in by_day.values())
    first_day = min(by_day) if by_day else config.start
    for day in sorted(by_day):
        good = [Row(r) for _, r in sorted(by_day[day], key=lambda x: (x[0], x[1]["assignment_id"]))]
        bad_rows = _bad_assignments(rng, day) if day == first_day else []
        rel = f"assignments/{day.isoformat()}.jsonl"
        with tree.jsonl(rel) as out:
            rows = interleave(rng, good, bad_rows)
            faults += write_json_rows(out, rows, input_name=ASSIGNMENTS.name, rel=rel)
    return truths, faults, valid


def _start_day(config: GeneratorConfig, plan: ExperimentPlan) -> date:
    return config.day(min(plan.start_offset_days, config.days - 1))


def _write_definitions(
    rng: random.Random, config: GeneratorConfig, tree: OutputTree
) -> list[dict[str, Any]]:
    good: list[Row] = []
    for plan in PLANS:
        for variant, percent in plan.planned_percent:
            good.append(
                Row(
                    _definition(
                        experiment_id=plan.experiment_id,
                        variant=variant,
                        weight=f"{percent / 100:.2f}",
                        unit_type=plan.unit_type,
                        start=_start_day(config, plan),
                        owner=plan.owner,
                    )
                )
            )
    bad_rows = [
        bad(
            _definition(
                experiment_id="legacy_banner",
                variant="control",
                weight="1.00",
                unit_type="session",
                start=config.start,
                owner="ana.silva",
            ),
            "unknown_unit_type",
            "legacy_banner",
            "session",
        )
    ]
    rel = "experiments/experiments.csv"
    with tree.csv(rel, EXPERIMENTS.sent_fields) as out:
        rows = interleave(rng, good, bad_rows)
        return write_csv_rows(out, rows, input_name=EXPERIMENTS.name, rel=rel)


def _definition(
    *, experiment_id: str, variant: str, weight: str, unit_type: str, start: date, owner: str
) -> list[object]:
    by_name: dict[str, object] = {
        "experiment_id": experiment_id,
        "variant": variant,
        "planned_weight": weight,
        "unit_type": unit_type,
        "start_date": start.isoformat(),
        "owner": owner,
    }
    return [by_name[f] for f in EXPERIMENTS.sent_fields]


def _units(config: GeneratorConfig, accounts: list[Account], plan: ExperimentPlan) -> list[str]:
    start = day_start(_start_day(config, plan))
    eligible = [a for a in accounts if a.snapshot_at(start).status in ACCESS_STATUSES]
    if plan.unit_type == "account":
        return [a.account_id for a in eligible]
    return [u for a in eligible for u in a.users]


def _assign(
    rng: random.Random, config: GeneratorConfig, accounts: list[Account], plan: ExperimentPlan
) -> tuple[dict[str, Any], list[tuple[datetime, dict[str, Any]]]]:
    units = _units(config, accounts, plan)
    rng.shuffle(units)
    variants = [v for v, _ in plan.planned_percent]
    doubles, singles = units[: plan.double_assigned], units[plan.double_assigned :]
    percents = plan.actual_percent or tuple(p for _, p in plan.planned_percent)
    counts = quotas(len(singles), percents)
    records: list[tuple[datetime, dict[str, Any]]] = []
    cursor = 0
    for variant, count in zip(variants, counts, strict=True):
        for unit in singles[cursor : cursor + count]:
            records.append(_record(rng, config, plan, unit, variant))
        cursor += count
    multiple: list[dict[str, Any]] = []
    for unit in doubles:
        first = _record(rng, config, plan, unit, variants[0])
        later = min(first[0] + 24 * HOUR, config.window_end - HOUR)
        second = _record(rng, config, plan, unit, variants[1], when=later)
        records += [first, second]
        multiple.append({"unit_id": unit, "variants": [variants[0], variants[1]]})
    expected = [len(singles) * p / 100 for _, p in plan.planned_percent]
    chi2, p_value = chi_square_p_value(counts, expected) if singles else (0.0, 1.0)
    truth = {
        "experiment_id": plan.experiment_id,
        "unit_type": plan.unit_type,
        "start_date": _start_day(config, plan).isoformat(),
        "planned_split": {v: p / 100 for v, p in plan.planned_percent},
        "observed_split": dict(zip(variants, counts, strict=True)),
        "units": len(singles),
        "chi_square": round(chi2, 6),
        "p_value": float(f"{p_value:.6g}"),
        "srm_expected": p_value < SRM_P_THRESHOLD,
        "srm_injected": plan.actual_percent is not None,
        "multiple_variant_units": multiple,
    }
    return truth, records


def _record(
    rng: random.Random,
    config: GeneratorConfig,
    plan: ExperimentPlan,
    unit: str,
    variant: str,
    *,
    when: datetime | None = None,
) -> tuple[datetime, dict[str, Any]]:
    if when is None:
        start = _start_day(config, plan)
        span = max(1, min(EXPOSURE_DAYS, (config.last_day - start).days + 1))
        when = working_time(rng, start + timedelta(days=rng.randrange(span)))
    values: dict[str, Any] = {
        "assignment_id": new_uuid(rng),
        "experiment_id": plan.experiment_id,
        "variant": variant,
        "unit_type": plan.unit_type,
        "unit_id": unit,
        "assigned_at": iso_z(when),
    }
    return when, {name: values[name] for name in ASSIGNMENTS.sent_fields}


def _bad_assignments(rng: random.Random, day: date) -> list[Row]:
    at = iso_z(working_time(rng, day))

    def record(**over: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "assignment_id": new_uuid(rng),
            "experiment_id": PLANS[0].experiment_id,
            "variant": "control",
            "unit_type": "account",
            "unit_id": "acct-0001",
            "assigned_at": at,
        }
        base.update(over)
        return {k: base[k] for k in ASSIGNMENTS.sent_fields if k in base}

    unknown_exp = record(experiment_id="exp_does_not_exist")
    unknown_variant = record(variant="treatment_b")
    missing = record()
    del missing["unit_id"]
    broken = record()
    return [
        bad(unknown_exp, "unknown_experiment", unknown_exp["assignment_id"], "exp_does_not_exist"),
        bad(unknown_variant, "unknown_variant", unknown_variant["assignment_id"], "treatment_b"),
        bad(missing, "missing_field", missing["assignment_id"], "unit_id"),
        bad(
            b'{"assignment_id": "' + broken["assignment_id"].encode() + b'", "experiment_id": ',
            "invalid_json",
            broken["assignment_id"],
            "truncated line",
        ),
    ]
