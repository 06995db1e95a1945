"""Platform alarms: the functions that serve every pipeline (the landing inventory, the
on-call unmute). Owned by Data Engineering, watched in working hours (no paging)."""

from __future__ import annotations

from functions.core.monitor.alarm_inventory.service import function_alarms
from functions.core.monitor.alarm_inventory.spec import AlarmSpec, Owner
from functions.core.schemas import Pipeline

SLA = "Every pipeline's inputs are inventoried and alarms are unmuted when they return to OK"

ALARMS: tuple[AlarmSpec, ...] = function_alarms(
    Pipeline.PLATFORM,
    sla=SLA,
    owner=Owner.DATA_ENGINEERING,
    functions=("landing-inventory", "oncall-unmute"),
)
