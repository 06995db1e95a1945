"""The shared S3 reads on the emulator's S3: the warm container's body cache by ETag."""

from __future__ import annotations

from functions.adapters import s3_objects
from pablo.local.context import local_client
from tests.functional.conftest import EmulatorServer, unique_name


def test_an_unchanged_object_is_read_once_and_a_rewritten_one_again(
    emulator_server: EmulatorServer,
) -> None:
    # given two objects under a prefix, and a count of the GetObject calls made
    s3 = local_client("s3", emulator_server.endpoint)  # its own: the test hooks its calls
    bucket = unique_name("cache")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="t/a", Body=b"first a")
    s3.put_object(Bucket=bucket, Key="t/b", Body=b"first b")
    gets: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))

    def read_all() -> list[bytes]:
        etags = s3_objects.list_etags(s3, bucket=bucket, prefix="t/")
        return [s3_objects.read_object(s3, bucket=bucket, key=k, etag=e) for k, e in etags.items()]

    # when both are read twice, then one is rewritten and both are read again
    first = read_all()
    second = read_all()
    s3.put_object(Bucket=bucket, Key="t/b", Body=b"second b")
    third = read_all()

    # then the second read came from memory, and the rewritten object was fetched anew
    assert first == second == [b"first a", b"first b"]
    assert third == [b"first a", b"second b"]
    assert len(gets) == 3


def test_without_an_etag_every_read_goes_to_s3(emulator_server: EmulatorServer) -> None:
    # given an object
    s3 = local_client("s3", emulator_server.endpoint)  # its own: the test hooks its calls
    bucket = unique_name("nocache")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    gets: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))
    # when read twice without a listing's ETag / then both reads reach S3
    for _ in range(2):
        assert s3_objects.read_object(s3, bucket=bucket, key="k") == b"body"
    assert len(gets) == 2
