"""An experiment's definition as the experiments file states it (pure): its unit type, start,
owner and planned variant weights. Ingest checks assignments against the definitions;
transform weighs the variants with them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Definition:
    experiment_id: str
    unit_type: str
    start_date: date
    owner: str
    weights: dict[str, float]  # variant -> planned weight, in file order


def definitions_from_table(table: pa.Table) -> dict[str, Definition]:
    """RAW_EXPERIMENTS rows (one experiment's rows come from one file) by experiment."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        grouped[row["experiment_id"]].append(row)
    return {
        experiment_id: Definition(
            experiment_id=experiment_id,
            unit_type=rows[0]["unit_type"],
            start_date=rows[0]["start_date"],
            owner=rows[0]["owner"],
            weights={r["variant"]: float(r["planned_weight"]) for r in rows},
        )
        for experiment_id, rows in sorted(grouped.items())
    }
