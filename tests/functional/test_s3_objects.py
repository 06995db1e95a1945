"""The shared S3 reads on the emulator's S3: the warm container's body cache by ETag."""

from __future__ import annotations

from pathlib import Path

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


def test_a_download_of_a_known_object_comes_from_the_cache(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    # given an object downloaded once with its listed ETag
    s3 = local_client("s3", emulator_server.endpoint)  # its own: the test hooks its calls
    bucket = unique_name("download")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="day/f.parquet", Body=b"parquet bytes")
    etag = s3_objects.list_etags(s3, bucket=bucket, prefix="day/")["day/f.parquet"]
    s3_objects.download(s3, bucket=bucket, key="day/f.parquet", path=str(tmp_path / "a"), etag=etag)
    gets: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))
    # when it is downloaded again to another file
    s3_objects.download(s3, bucket=bucket, key="day/f.parquet", path=str(tmp_path / "b"), etag=etag)
    # then the same bytes were written without asking S3
    assert (tmp_path / "b").read_bytes() == (tmp_path / "a").read_bytes() == b"parquet bytes"
    assert gets == []
