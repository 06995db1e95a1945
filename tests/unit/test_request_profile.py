"""The emulator's CPU per AWS operation: how a request is named, and the tally."""

from __future__ import annotations

from typing import Any

import pytest

from pablo.demo import request_lines
from pablo.local.request_profile import RequestProfile, operation_of


def _signed(service: str, **environ: Any) -> dict[str, Any]:
    scope = f"AKIDEXAMPLE/20260901/us-east-1/{service}/aws4_request"
    return {
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, "
        "Signature=abc",
        **environ,
    }


@pytest.mark.parametrize(
    ("environ", "operation"),
    [
        (
            _signed("dynamodb", HTTP_X_AMZ_TARGET="DynamoDB_20120810.GetItem"),
            "dynamodb GetItem",
        ),
        (
            _signed(
                "s3", REQUEST_METHOD="GET", PATH_INFO="/lake/", QUERY_STRING="list-type=2&prefix=x"
            ),
            "s3 GET bucket?list-type /",
        ),
        (
            _signed(
                "s3",
                REQUEST_METHOD="GET",
                PATH_INFO="/lake",
                QUERY_STRING="list-type=2&prefix=curated%2Fclicks%2Fdt%3D2026-09-01%2Fversion%3Da%2F",
            ),
            "s3 GET bucket?list-type curated/clicks/",
        ),
        (
            _signed("s3", REQUEST_METHOD="GET", PATH_INFO="/lake", QUERY_STRING="list-type=2"),
            "s3 GET bucket?list-type /",
        ),
        (
            _signed("s3", REQUEST_METHOD="PUT", PATH_INFO="/lake/clicks/dt=2026-09-01/a.parquet"),
            "s3 PUT object",
        ),
        (
            _signed("s3", REQUEST_METHOD="POST", PATH_INFO="/lake", QUERY_STRING="delete="),
            "s3 POST bucket?delete",
        ),
        (
            _signed(
                "lambda",
                REQUEST_METHOD="POST",
                PATH_INFO="/2015-03-31/functions/pablo-local-engagement-daily/invocations",
            ),
            "lambda POST /2015-03-31/functions/*/invocations",
        ),
        ({"REQUEST_METHOD": "POST", "PATH_INFO": "/"}, "unknown POST /"),
    ],
)
def test_a_request_is_named_by_its_service_and_operation(
    environ: dict[str, Any], operation: str
) -> None:
    # given a request's WSGI environment; when it is named; then service and operation
    assert operation_of(environ) == operation


def test_the_profile_adds_up_each_operation_and_lists_the_costliest_first() -> None:
    # given three requests of two operations
    profile = RequestProfile()
    profile.add("s3 GET bucket?list-type", 0.010)
    profile.add("dynamodb GetItem", 0.002)
    profile.add("s3 GET bucket?list-type", 0.030)
    # when the report is made
    report = profile.report()
    # then each operation's requests and CPU are summed, the costliest first
    assert list(report) == ["s3 GET bucket?list-type", "dynamodb GetItem"]
    assert report["s3 GET bucket?list-type"] == {
        "requests": 2,
        "cpu_seconds": 0.04,
        "cpu_ms_per_request": 20.0,
    }
    assert profile.requests == 3


def test_the_summary_lists_each_operations_share_of_the_cpu() -> None:
    # given 40 ms of listings and 10 ms of reads (80% and 20% of 50 ms)
    profile = {
        "s3 GET bucket?list-type": {"requests": 2, "cpu_seconds": 0.04, "cpu_ms_per_request": 20.0},
        "dynamodb GetItem": {"requests": 5, "cpu_seconds": 0.01, "cpu_ms_per_request": 2.0},
    }
    # when the lines are made
    lines = request_lines(profile)
    # then the total and each share are printed, costliest first
    assert lines == [
        "requests      7 served over HTTP, 0.1 s cpu; the costliest:",
        "  80.0%  s3 GET bucket?list-type: 2 x 20.0 ms",
        "  20.0%  dynamodb GetItem: 5 x 2.0 ms",
    ]
    # and an emulator that reported nothing prints nothing
    assert request_lines({}) == []
