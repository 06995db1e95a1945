"""Which objects under a table's prefix are its data: one rule for every prefix reader."""

from __future__ import annotations

import pytest

from functions.adapters.s3_tables import is_data_key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("curated/clicks/dt=2026-10-01/version=ab12/data.parquet", True),
        # Athena's CREATE TABLE AS: a query id and no extension
        ("curated/clicks/dt=2026-10-01/version=run-1/20261001_101500_00012_abcde_9f8e", True),
        ("curated/clicks/dt=2026-10-01/_SUCCESS", False),
        ("curated/clicks/dt=2026-10-01/.staging", False),
        ("curated/clicks/dt=2026-10-01/_tmp.parquet", False),
        ("raw/producer_counts/dt=2026-10-01/web-1.json", False),
        ("results/pipelines/abc.csv.metadata", False),
        ("curated/clicks/dt=2026-10-01/", False),
    ],
)
def test_a_key_is_data_when_parquet_or_extensionless_and_not_hidden(
    key: str, expected: bool
) -> None:
    # Given a key under a table's prefix, When it is judged, Then Hive's and Athena's rule holds
    assert is_data_key(key) is expected
