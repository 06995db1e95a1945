"""One root for every error the pipelines raise, marked transient or terminal.

Terminal errors mean the input itself is wrong: the record or file is quarantined with the
error's reason code and the run goes on. Transient errors mean something outside the input
failed (throttling, a timeout, an unavailable dependency): the caller retries, and for a
Kinesis batch the record is reported as a batch item failure.
"""

from __future__ import annotations

from functions.core.codes import UPSTREAM_STALE


class PabloError(Exception):
    """Root of every error raised on purpose by this project."""

    transient: bool = False
    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TerminalError(PabloError):
    """Retrying cannot help: quarantine the input with `reason`."""

    transient = False
    reason = "invalid"


class TransientError(PabloError):
    """Retrying may help: the caller retries with backoff."""

    transient = True
    reason = "transient"


class ValidationError(TerminalError):
    """A record or file breaks its data contract."""


class ConfigurationError(TerminalError):
    """The deployment or the command line is wrong; nothing to retry."""

    reason = "configuration"


class StaleInputError(TransientError):
    """An upstream input is older than its freshness bound."""

    reason = UPSTREAM_STALE
