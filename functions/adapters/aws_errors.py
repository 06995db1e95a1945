"""One rule for every adapter: which AWS errors may pass on a retry (transient) and which
are the caller's mistake (terminal, raised as they are)."""

from __future__ import annotations

from typing import Final

from botocore.exceptions import ClientError

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
        "InternalServiceError",
        "500",  # S3 answers some server errors with the bare HTTP status as the code
        "503",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def classified(exc: Exception, what: str) -> Exception:
    """The exception to raise for a failed AWS call: the ClientError itself when the
    request was wrong (terminal), a TransientError (retry) for throttling, service errors
    and anything that never got an answer (network, botocore, an interrupted transfer)."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        return TransientError(f"{what}: {code}") if code in RETRYABLE_CODES else exc
    return TransientError(f"{what}: {exc}")
