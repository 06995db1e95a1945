"""pablo.local.keep_alive: a client's connection to the emulator serves request after
request, whatever each request's body and whether the application read it."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from tests.conftest import EmulatorServer
from tests.support import unique_name

HEALTH = "/pablo-api/health"


def _connection(emulator: EmulatorServer) -> http.client.HTTPConnection:
    address = urlsplit(emulator.endpoint)
    return http.client.HTTPConnection(address.hostname or "localhost", address.port, timeout=30)


def test_one_connection_serves_requests_with_and_without_bodies(
    emulator_server: EmulatorServer,
) -> None:
    # Given a bucket and one HTTP/1.1 connection
    bucket = unique_name("keep")
    emulator_server.client("s3").create_bucket(Bucket=bucket)
    connection = _connection(emulator_server)
    # When a PUT with a body, a GET, a request whose body the application never reads (the
    # health route ignores it) and a GET again go over it
    answers = []
    sockets = []
    for method, path, body in (
        ("PUT", f"/{bucket}/a.txt", b"first body"),
        ("GET", f"/{bucket}/a.txt", None),
        ("GET", HEALTH, b"never read " * 7_000),
        ("GET", f"/{bucket}/a.txt", None),
    ):
        # public-read: these requests are unsigned
        connection.request(method, path, body=body, headers={"x-amz-acl": "public-read"})
        response = connection.getresponse()
        answers.append((response.status, response.read(), response.getheader("Connection")))
        sockets.append(connection.sock)
    # Then each was answered in turn on the same socket, none saying it closes
    assert [status for status, _, _ in answers] == [200, 200, 200, 200]
    assert answers[1][1] == b"first body" and answers[3][1] == b"first body"
    assert all(header is None for _, _, header in answers)
    assert len({id(sock) for sock in sockets}) == 1


def test_a_chunked_request_is_read_to_its_end_and_the_connection_kept(
    emulator_server: EmulatorServer,
) -> None:
    # Given a connection sending a body in chunks (its end is in the stream, not a header)
    connection = _connection(emulator_server)
    # When it is answered, and another request follows on the connection
    connection.request("GET", HEALTH, body=iter([b"a" * 5000, b"b"]), encode_chunked=True)
    first = connection.getresponse()
    first.read()
    connection.request("GET", HEALTH)
    second = connection.getresponse()
    # Then both are answered, the second after the whole of the first's body
    assert (first.status, first.getheader("Connection")) == (200, None)
    assert second.status == 200 and b'"status": "ok"' in second.read()
