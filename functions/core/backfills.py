"""How a backfill's execution is named, read by the stage that starts it and by on-call (pure).

Two kinds: a manual one (`pablo backfill`) is named `backfill-<first day>-<last day>-<stamp>`;
an automatic one, started by the executive freshness gate to repair a stale upstream, is
named `<run id, cut>-<upstream>-backfill[-<version>]` (the name is the idempotency key: one
backfill per run, upstream and stale state).
"""

from __future__ import annotations

import re
from typing import Final

from functions.core.schemas import Pipeline

# The executive KPIs' upstream pipelines, in the order the gate checks them.
ENGAGEMENT: Final = Pipeline.ENGAGEMENT.value
GROWTH: Final = Pipeline.GROWTH.value
PROFIT: Final = Pipeline.PROFIT.value
UPSTREAMS: Final = (ENGAGEMENT, GROWTH, PROFIT)

MANUAL_BACKFILL_PREFIX: Final = "backfill-"
MANUAL: Final = "manual"
AUTOMATIC: Final = "automatic"
_AUTOMATIC_BACKFILL: Final = re.compile(
    rf"-(?P<upstream>{'|'.join(UPSTREAMS)})-backfill(?:-(?P<version>[0-9a-f]+))?$"
)


def backfill_suffix(upstream: str) -> str:
    """What ends the name of every automatic backfill of `upstream` (before its version)."""
    return f"-{upstream}-backfill"


def automatic_backfill_run(name: str) -> str | None:
    """The (possibly cut) run id of the gate that started execution `name`, or None when
    `name` is not an automatic backfill."""
    found = _AUTOMATIC_BACKFILL.search(name)
    return name[: found.start()] if found else None


def backfill_kind(execution_name: str) -> str | None:
    """MANUAL (`pablo backfill`), AUTOMATIC (the executive freshness gate's), or None for
    an execution that is no backfill."""
    if execution_name.startswith(MANUAL_BACKFILL_PREFIX):
        return MANUAL
    if automatic_backfill_run(execution_name) is not None:
        return AUTOMATIC
    return None
