"""The value each deployable setting takes when the deployment names none (pure, light).

The rules that use them import them from here, and so do the handlers' settings and
infra's constructs. Nothing here imports pyarrow or DuckDB: every function reads its
settings, the 256 MB ones included.
"""

from __future__ import annotations

from typing import Final

# A gap of more than this many minutes between a user's clicks starts a new session.
DEFAULT_SESSION_GAP_MINUTES: Final = 30
# A click whose event time is more than this many days before it was first sent is too late.
DEFAULT_ALLOWED_LATENESS_DAYS: Final = 7
# Days before an experiment's start whose activity is its covariate.
DEFAULT_PRE_PERIOD_DAYS: Final = 14
# The executive freshness gate's bounds in AWS: the wait between checks, and how many
# checks before it gives up and alerts on-call.
DEFAULT_WAIT_SECONDS: Final = 900
DEFAULT_MAX_CHECKS: Final = 8
