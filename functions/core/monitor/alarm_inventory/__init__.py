"""Every SLA of the run book as an alarm, defined once as data.

The CDK alarms construct (`infra/constructs/alarms.py`), the runbooks and the on-call
tools read this inventory; nothing else spells an alarm's threshold, owner or runbook.
Each pipeline keeps its alarms in its own module here (one module per pipeline, so work on
one pipeline never edits another's list); `INVENTORY` gathers them.
"""

from __future__ import annotations

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
    "AlarmSpec",
    "Comparison",
    "MissingData",
    "Owner",
    "Severity",
    "Watched",
    "spec",
]


# Modules of shared definitions, not a pipeline's list of alarms.
_NOT_PIPELINES = frozenset({"spec", "service"})


def _gather() -> tuple[AlarmSpec, ...]:
    import importlib  # noqa: PLC0415
    import pkgutil  # noqa: PLC0415

    specs: list[AlarmSpec] = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name in _NOT_PIPELINES:
            continue
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        specs.extend(loaded.ALARMS)
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
