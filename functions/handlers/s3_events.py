"""What every handler of S3 "Object Created" events answers to an event it cannot read.

Light on purpose (no pyarrow, no DuckDB): the 256 MB landing inventory imports it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from functions.core.errors import ValidationError


def rejected_event(error: ValidationError, logger: Logger) -> dict[str, Any]:
    """The answer to an S3 event that names no landed object: logged, not retried (the
    same event would fail again)."""
    logger.error("event rejected", extra={"reason": error.reason, "error": str(error)})
    return {"status": "rejected", "reason": error.reason, "error": str(error)}
