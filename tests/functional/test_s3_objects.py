"""The shared S3 reads on the emulator's S3: the warm container's body cache by ETag."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.adapters import s3_objects, s3_tables
from functions.core import schemas
from pablo.local.context import local_client
from tests.conftest import EmulatorServer
from tests.support import unique_name


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


def test_parsed_tables_are_kept_by_etag_and_schema(emulator_server: EmulatorServer) -> None:
    # given two Parquet objects under a prefix, and a count of the GetObject calls made
    s3 = local_client("s3", emulator_server.endpoint)  # its own: the test hooks its calls
    bucket = unique_name("tables")
    s3.create_bucket(Bucket=bucket)
    for name, values in (("a", [1, 2]), ("b", [3])):
        s3.put_object(
            Bucket=bucket, Key=f"t/{name}.parquet", Body=_parquet(pa.table({"x": values}))
        )
    gets: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))
    wide = pa.schema([("x", pa.int64())])
    narrow = pa.schema([("x", pa.int32())])

    def read_all(schema: pa.Schema) -> list[pa.Table]:
        etags = s3_objects.list_etags(s3, bucket=bucket, prefix="t/")
        return s3_objects.read_tables(
            s3, bucket=bucket, keys=list(etags), schema=schema, etags=etags
        )

    # when both are read twice, once under another schema, then one is rewritten and re-read
    first, second = read_all(wide), read_all(wide)
    as_int32 = read_all(narrow)
    s3.put_object(Bucket=bucket, Key="t/b.parquet", Body=_parquet(pa.table({"x": [4]})))
    third = read_all(wide)

    # then the second read was parsed tables from memory, another schema is its own entry,
    # and only the rewritten object was fetched again
    assert [t.column("x").to_pylist() for t in first] == [[1, 2], [3]]
    assert all(a.equals(b) for a, b in zip(first, second, strict=True))
    assert [t.schema for t in as_int32] == [narrow, narrow]
    assert [t.column("x").to_pylist() for t in third] == [[1, 2], [4]]
    assert len(gets) == 2 + 2 + 1


def test_a_partition_read_again_unchanged_comes_from_the_cache(
    emulator_server: EmulatorServer,
) -> None:
    # given a day of a dt-partitioned table in one file, and a count of the GetObject calls
    s3 = local_client("s3", emulator_server.endpoint)  # its own: the test hooks its calls
    bucket = unique_name("partition")
    s3.create_bucket(Bucket=bucket)
    table = schemas.ENGAGEMENT_DAILY
    key = s3_tables.partition_key(table, {"dt": "2026-09-10"}, "data")
    empty = table.arrow_schema().empty_table()
    s3.put_object(Bucket=bucket, Key=key, Body=_parquet(empty))
    gets: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))

    def read() -> pa.Table:
        return s3_tables.read_partition(
            s3, bucket=bucket, table=table, partitions={"dt": "2026-09-10"}
        )

    # when the day is read twice, then its file is rewritten and the day read again
    first, second = read(), read()
    s3.put_object(Bucket=bucket, Key=key, Body=_parquet(empty.append_column("x", pa.array([]))))
    third = read()

    # then the second read asked S3 nothing, and the rewritten file was fetched again
    assert first.equals(second) and first.schema == third.schema == table.arrow_schema()
    assert len(gets) == 2


def _parquet(rows: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(rows, sink)
    return sink.getvalue()


@pytest.mark.parametrize("single_put_max", [1 << 20, 16])
def test_a_file_uploads_whole_small_or_streamed_large(
    emulator_server: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    single_put_max: int,
) -> None:
    # given a local file, and the size up to which one PutObject sends it
    monkeypatch.setattr(s3_objects, "SINGLE_PUT_MAX_BYTES", single_put_max)
    s3 = local_client("s3", emulator_server.endpoint)
    bucket = unique_name("upload")
    s3.create_bucket(Bucket=bucket)
    path = tmp_path / "data.parquet"
    path.write_bytes(b"clicks of a day" * 10)
    puts: list[str] = []
    s3.meta.events.register("before-call.s3.PutObject", lambda **kw: puts.append("put"))
    managed: list[str] = []
    transfer = s3.upload_file

    def counted_transfer(*args: object, **kwargs: object) -> None:
        managed.append("transfer manager")
        transfer(*args, **kwargs)

    monkeypatch.setattr(s3, "upload_file", counted_transfer)
    # when it is uploaded (one PutObject when small, the transfer manager when larger)
    s3_objects.upload_file(s3, bucket=bucket, key="k/data.parquet", path=str(path))
    # then the object holds the file's bytes either way, sent by the path its size chose
    stored = s3.get_object(Bucket=bucket, Key="k/data.parquet")["Body"].read()
    assert stored == path.read_bytes()
    assert len(puts) == 1  # 150 bytes: one part even for the transfer manager
    assert len(managed) == (0 if single_put_max >= len(stored) else 1)


def test_a_rebuild_puts_only_the_partitions_that_changed(emulator_server: EmulatorServer) -> None:
    # given three months of a partitioned table written once, and a count of the puts
    s3 = local_client("s3", emulator_server.endpoint)  # its own: the test hooks its calls
    bucket = unique_name("rebuild")
    s3.create_bucket(Bucket=bucket)
    table = schemas.EXPENSES_MONTHLY

    def rows(july_cents: int) -> pa.Table:
        months = {"2026-07": july_cents, "2026-08": 200, "2026-09": 300}
        return pa.Table.from_pylist(
            [
                {"category": "cloud", "team": "data", "amount_cents": c, "lines": 1, "month": m}
                for m, c in months.items()
            ],
            table.arrow_schema(with_partitions=True),
        )

    def rebuild(july_cents: int) -> list[str]:
        return s3_tables.write_partitioned(
            s3, bucket=bucket, table=table, rows=rows(july_cents), name="data", kms=False
        )

    first = rebuild(100)
    puts: list[str] = []
    s3.meta.events.register("before-call.s3.PutObject", lambda **kw: puts.append("put"))
    # when the same rows are written again, then July changes, then a cold container writes
    same = rebuild(100)
    after_same = len(puts)
    rebuild(150)
    after_july = len(puts)
    s3_objects._bodies.clear()
    s3_objects._bodies_bytes[0] = 0
    rebuild(150)
    # then nothing was put for unchanged rows, only July when it changed, and a container
    # that cannot compare puts every file; every key is returned each time
    assert (after_same, after_july, len(puts)) == (0, 1, 4)
    assert same == first and len(first) == 3
    july = s3.get_object(Bucket=bucket, Key=first[0])["Body"].read()
    assert pq.read_table(io.BytesIO(july)).column("amount_cents").to_pylist() == [150]


def test_a_window_of_days_is_listed_from_its_first_day(emulator_server: EmulatorServer) -> None:
    # given five days of a dt-partitioned table, and the listings' parameters recorded
    s3 = local_client("s3", emulator_server.endpoint)  # its own: the test hooks its calls
    bucket = unique_name("days")
    s3.create_bucket(Bucket=bucket)
    table = schemas.PRODUCER_COUNTS
    for day in range(1, 6):
        dt = f"2026-09-0{day}"
        rows = pa.Table.from_pylist(
            [
                {
                    "producer_id": "p",
                    "minute": datetime(2026, 9, day, tzinfo=UTC),
                    "sent": day,
                    "spilled": 0,
                }
            ],
            table.arrow_schema(),
        )
        s3.put_object(Bucket=bucket, Key=f"{table.prefix}/dt={dt}/a.parquet", Body=_parquet(rows))
    listed: list[dict[str, object]] = []
    s3.meta.events.register(
        "before-parameter-build.s3.ListObjectsV2", lambda params, **kw: listed.append(params)
    )
    # when days 3 and 4 are read
    rows = s3_tables.read_days(
        s3, bucket=bucket, table=table, first=date(2026, 9, 3), last=date(2026, 9, 4)
    )
    # then exactly their rows come back, from a listing that started at the first day
    assert rows.column("sent").to_pylist() == [3, 4]
    assert rows.column("dt").to_pylist() == ["2026-09-03", "2026-09-04"]
    assert [p.get("StartAfter") for p in listed] == [f"{table.prefix}/dt=2026-09-03"]
    after = s3_objects.list_etags(
        s3, bucket=bucket, prefix=f"{table.prefix}/", start_after=listed[0]["StartAfter"]
    )
    assert [s3_tables.dt_of(key) for key in after] == ["2026-09-03", "2026-09-04", "2026-09-05"]


def test_days_are_downloaded_under_a_directory_per_day(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    # given three days of a dt-partitioned table, two files on the second
    s3 = local_client("s3", emulator_server.endpoint)
    bucket = unique_name("days")
    s3.create_bucket(Bucket=bucket)
    table = schemas.PRODUCER_COUNTS
    for day, names in ((1, ["a"]), (2, ["a", "b"]), (3, ["a"])):
        for number, name in enumerate(names):
            rows = pa.Table.from_pylist(
                [
                    {
                        "producer_id": name,
                        "minute": datetime(2026, 9, day, tzinfo=UTC),
                        "sent": day * 10 + number,
                        "spilled": 0,
                    }
                ],
                table.arrow_schema(),
            )
            key = f"{table.prefix}/dt=2026-09-0{day}/{name}.parquet"
            s3.put_object(Bucket=bucket, Key=key, Body=_parquet(rows))
    # when days 2 and 3 are downloaded
    paths = s3_tables.download_days(
        s3,
        bucket=bucket,
        table=table,
        first=date(2026, 9, 2),
        last=date(2026, 9, 3),
        directory=str(tmp_path),
    )
    # then their three files are on disk, each under its day, in key order
    assert [Path(p).parent.name for p in paths] == ["dt=2026-09-02"] * 2 + ["dt=2026-09-03"]
    assert [pq.read_table(p).column("sent").to_pylist() for p in paths] == [[20], [21], [30]]


def test_partitions_of_one_table_are_listed_together(emulator_server: EmulatorServer) -> None:
    # given ten days of one table, a day of another, and a client whose listings are counted
    # (pages of 4 keys, so the listing must stop by itself once past the last day asked)
    s3 = local_client("s3", emulator_server.endpoint)  # its own: the test hooks its calls
    bucket = unique_name("ranged")
    s3.create_bucket(Bucket=bucket)
    days = [f"t/dt=2026-09-{d:02d}/" for d in range(1, 11)]
    for prefix in days:
        s3.put_object(Bucket=bucket, Key=f"{prefix}data.parquet", Body=prefix.encode())
    s3.put_object(Bucket=bucket, Key="t/dt=2026-09-03x/stray.parquet", Body=b"not a day asked")
    s3.put_object(Bucket=bucket, Key="u/dt=2026-09-02/data.parquet", Body=b"u")
    listings: list[str] = []

    def count(params: dict[str, object], **_: object) -> None:
        listings.append(str(params.get("Prefix")))
        params["MaxKeys"] = 4

    s3.meta.events.register("provide-client-params.s3.ListObjectsV2", count)
    # when days 2, 3 and 5 of t and day 2 of u are asked for
    wanted = [days[1], days[2], days[4], "u/dt=2026-09-02/"]
    objects = s3_objects.objects_under(s3, bucket=bucket, prefixes=wanted)
    # then exactly their objects are found, with ETag and size, in key order
    assert list(objects) == [
        "t/dt=2026-09-02/data.parquet",
        "t/dt=2026-09-03/data.parquet",
        "t/dt=2026-09-05/data.parquet",
        "u/dt=2026-09-02/data.parquet",
    ]
    assert objects["u/dt=2026-09-02/data.parquet"]["Size"] == 1
    assert all(obj["ETag"] for obj in objects.values())
    # and t was listed from day 2 in one pass of two pages (day 2 to day 5, then stopped),
    # u by its own prefix: three requests, not four listings of every day
    assert listings == ["t/", "t/", "u/dt=2026-09-02/"]
    # and two top-level folders are listed together from the bucket's top
    listings.clear()
    tops = s3_objects.objects_under(s3, bucket=bucket, prefixes=["t/", "u/"])
    assert len(tops) == len(days) + 2 and listings[0] == ""
