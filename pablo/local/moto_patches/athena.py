"""Athena: the query operations answered by the emulator's SQL engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from moto.athena.responses import AthenaResponse

from pablo.local.moto_patches.registry import Patch, Replacement

# The workgroup of every query the emulator started, by query id (pablo.local.athena fills
# it): IAM judges a request that names queries against their workgroup, as AWS does
# (moto_patches.iam), and only the emulator knows which workgroup a query ran in.
QUERY_WORKGROUPS: dict[str, str] = {}


def _queries_answered(handlers: Mapping[str, Callable[[Any], Any]]) -> list[Replacement]:
    """Each AthenaResponse operation named in `handlers` is answered by `handler(response)`
    (pablo.local.athena); workgroups and named queries stay moto's.

    Why: moto stores Athena queries but runs none (GetQueryResults returns only rows preset
    through moto's own API); BatchGetQueryExecution it lacks.
    """

    def answer(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def method(response: Any) -> Any:
            return handler(response)

        return method

    return [
        Replacement(AthenaResponse, operation, answer(handler))
        for operation, handler in handlers.items()
    ]


QUERIES_ANSWERED = Patch("athena-queries-run", "athena", _queries_answered)
