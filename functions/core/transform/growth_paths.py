"""Where the growth pipeline's files go: one deterministic key per partition, so a re-run
overwrites its own output instead of adding a copy. Pure."""

from __future__ import annotations

import re
from typing import Final

from functions.core import schemas

ACCOUNT_EVENTS_PREFIX: Final = "account_events/"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(source_key: str) -> str:
    """A landing key as one safe file name: `account_events/2026/09/14/a.jsonl` ->
    `account_events_2026_09_14_a`."""
    without_ext = (
        source_key.rsplit(".", 1)[0] if "." in source_key.rsplit("/", 1)[-1] else source_key
    )
    return _UNSAFE.sub("_", without_ext.replace("/", "_")).strip("_") or "file"


def partition_key(registry: schemas.Table, values: dict[str, str], file_name: str) -> str:
    """`<prefix>/<k>=<v>/.../<file_name>.parquet` with the registry's partition order."""
    missing = set(registry.partition_names) - set(values)
    if missing:
        raise ValueError(f"{registry.name} key needs partitions {sorted(missing)}")
    path = "/".join(f"{k}={values[k]}" for k in registry.partition_names)
    return f"{registry.prefix}/{path}/{file_name}.parquet"


def raw_events_key(source_key: str, month: str) -> str:
    return partition_key(schemas.RAW_ACCOUNT_EVENTS, {"month": month}, file_stem(source_key))


def quarantine_key(source_key: str, dt: str) -> str:
    values = {"pipeline": schemas.Pipeline.GROWTH.value, "dt": dt}
    return partition_key(schemas.QUARANTINE, values, file_stem(source_key))


def snapshot_key(week: str) -> str:
    return partition_key(schemas.ACCOUNT_STATUS_WEEKLY, {"week": week}, "account_status")


def issues_key(month: str) -> str:
    return partition_key(schemas.LIFECYCLE_ISSUES, {"month": month}, "lifecycle_issues")


def account_monthly_key(month: str) -> str:
    return partition_key(schemas.GROWTH_ACCOUNT_MONTHLY, {"month": month}, "growth_account")


def monthly_key(month: str) -> str:
    return partition_key(schemas.GROWTH_MONTHLY, {"month": month}, "growth")
