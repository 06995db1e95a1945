"""The one transient-versus-terminal rule every adapter raises by."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.adapters.aws_errors import classified
from functions.core.errors import TransientError


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutObject")


@pytest.mark.parametrize("code", ["ThrottlingException", "SlowDown", "503", "InternalError"])
def test_throttling_and_server_errors_are_transient(code: str) -> None:
    # given a throttled or failed-on-the-server call / then the caller retries it
    raised = classified(_client_error(code), "put s3://b/k")
    assert isinstance(raised, TransientError)
    assert "put s3://b/k" in str(raised) and code in str(raised)


@pytest.mark.parametrize("code", ["AccessDenied", "NoSuchBucket", "ValidationException"])
def test_a_wrong_request_is_raised_as_it_is(code: str) -> None:
    # given a request AWS refused / then no retry can help: the ClientError itself
    error = _client_error(code)
    assert classified(error, "put") is error


def test_calls_that_never_got_an_answer_are_transient() -> None:
    # given network trouble or an interrupted transfer / then retry
    network = EndpointConnectionError(endpoint_url="http://localhost:1")
    upload = S3UploadFailedError("upload interrupted")
    assert isinstance(classified(network, "get"), TransientError)
    assert isinstance(classified(upload, "upload"), TransientError)
