"""awswrangler (AWS SDK for pandas) pointed at the embedded emulator, for notebooks.

    from pablo.wrangler import emulator_session
    session = emulator_session("http://localhost:5000")
    wr.catalog.tables(database="pablo_local_curated", boto3_session=session)

On AWS nothing is needed: awswrangler uses the default boto3 session. See docs/query.md for
what works on the emulator: the Glue catalog, S3, and Athena queries (run on DuckDB by the
emulator's Athena, pablo/local/athena.py).
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from pablo.local.context import LOCAL_CREDENTIALS, LOCAL_REGION

# The services awswrangler reaches through `wr.config.<service>_endpoint_url`.
EMULATED_SERVICES: tuple[str, ...] = ("s3", "glue", "athena", "sts")
# awswrangler polls a query every second by default; the emulator answers in milliseconds.
EMULATOR_POLL_SECONDS = 0.02


def emulator_session(endpoint: str) -> Any:
    """Point awswrangler's S3, Glue, Athena and STS at `endpoint` (path-style S3, as the
    emulator needs) and return the boto3 session to pass as `boto3_session`."""
    import awswrangler as wr  # noqa: PLC0415 (pandas only for the caller that wants it)
    import boto3  # noqa: PLC0415

    for service in EMULATED_SERVICES:
        setattr(wr.config, f"{service}_endpoint_url", endpoint)
    wr.config.botocore_config = Config(s3={"addressing_style": "path"})
    return boto3.Session(region_name=LOCAL_REGION, **LOCAL_CREDENTIALS)


def reset_wrangler_endpoints() -> None:
    """Point awswrangler back at AWS (its configuration is global to the process)."""
    import awswrangler as wr  # noqa: PLC0415

    wr.config.reset()
