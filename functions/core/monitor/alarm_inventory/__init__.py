"""Every SLA of the run book as an alarm, defined once as data.

The CDK alarms construct (`infra/constructs/alarms.py`), the runbooks and the on-call
tools read this inventory; nothing else spells an alarm's threshold, owner or runbook.
Each pipeline's alarms are a module here (`spec` and `service` hold what they share);
`INVENTORY` gathers them in the order of `PIPELINE_MODULES`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

from functions.core.monitor.alarm_inventory import (
    engagement,
    executive,
    experiments,
    growth,
    platform,
    profit,
)
from functions.core.monitor.alarm_inventory.spec import (
    AlarmSpec,
    Comparison,
    MissingData,
    Owner,
    Severity,
    Watched,
)

__all__ = [
    "INVENTORY",
    "PIPELINE_MODULES",
    "AlarmSpec",
    "Comparison",
    "MissingData",
    "Owner",
    "Severity",
    "Watched",
    "spec",
]

PIPELINE_MODULES: Final[tuple[ModuleType, ...]] = (
    engagement,
    executive,
    experiments,
    growth,
    platform,
    profit,
)


def _gather() -> tuple[AlarmSpec, ...]:
    specs: list[AlarmSpec] = [s for module in PIPELINE_MODULES for s in module.ALARMS]
    names = [s.key for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"alarm keys defined twice: {sorted(duplicates)}")
    return tuple(specs)


INVENTORY: tuple[AlarmSpec, ...] = _gather()


def spec(key: str) -> AlarmSpec:
    for item in INVENTORY:
        if item.key == key:
            return item
    raise KeyError(f"unknown alarm {key!r}; known: {', '.join(s.key for s in INVENTORY)}")
