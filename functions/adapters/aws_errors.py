"""One rule for every adapter: which AWS errors may pass on a retry (transient) and which
are the caller's mistake (terminal, raised as they are)."""

from __future__ import annotations

from typing import Final

from botocore.exceptions import BotoCoreError, ClientError

from functions.core.errors import TransientError

# Throttling, service-side failures and timeouts: retrying later can succeed.
RETRYABLE_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def classified(exc: Exception, what: str) -> Exception:
    """The exception to raise for a failed AWS call: a TransientError (retry) for
    throttling, service errors and network trouble; the ClientError itself otherwise."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        return TransientError(f"{what}: {code}") if code in RETRYABLE_CODES else exc
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{what}: {exc}")
    return exc
