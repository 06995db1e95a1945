"""glue_catalog.publish_partition: one UpdatePartition for a day published before, a create
for a new one, and an update after all when another run created it meanwhile (botocore's
Stubber checks every request made, in order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from functions.adapters import glue_catalog
from functions.core import schemas
from functions.core.errors import TransientError

TABLE = schemas.DEDUP_DAILY
DAY = "2026-10-02"
LOCATION = "s3://curated/dedup_daily/dt=2026-10-02/version=ab12/"


@pytest.fixture
def glue() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "glue", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _update(stubber: Stubber, error: str | None = None) -> None:
    expected = {
        "DatabaseName": "curated",
        "TableName": TABLE.name,
        "PartitionValueList": [DAY],
        "PartitionInput": ANY,
    }
    if error:
        stubber.add_client_error("update_partition", error, expected_params=expected)
    else:
        stubber.add_response("update_partition", {}, expected_params=expected)


def _create(stubber: Stubber, error: str | None = None) -> None:
    expected = {"DatabaseName": "curated", "TableName": TABLE.name, "PartitionInput": ANY}
    if error:
        stubber.add_client_error("create_partition", error, expected_params=expected)
    else:
        stubber.add_response("create_partition", {}, expected_params=expected)


def _publish(client: Any) -> None:
    glue_catalog.publish_partition(
        client, database="curated", table=TABLE, values=[DAY], location=LOCATION
    )


def test_a_day_published_before_is_moved_in_one_update(glue: tuple[Any, Stubber]) -> None:
    client, stubber = glue
    # given Glue has the partition; when it is published; then one UpdatePartition
    _update(stubber)
    _publish(client)


def test_a_new_day_is_created_after_the_update_is_refused(glue: tuple[Any, Stubber]) -> None:
    client, stubber = glue
    # given Glue lacks the partition; when it is published; then update, then create
    _update(stubber, "EntityNotFoundException")
    _create(stubber)
    _publish(client)


def test_a_day_another_run_created_meanwhile_is_updated_after_all(
    glue: tuple[Any, Stubber],
) -> None:
    client, stubber = glue
    # given the partition appears between the refused update and the create
    _update(stubber, "EntityNotFoundException")
    _create(stubber, "AlreadyExistsException")
    _update(stubber)
    # when it is published; then the last update moves it
    _publish(client)


def test_a_refusal_is_raised_and_throttling_is_transient(glue: tuple[Any, Stubber]) -> None:
    client, stubber = glue
    # given Glue refuses the update, then throttles it
    _update(stubber, "AccessDeniedException")
    _update(stubber, "ThrottlingException")
    # when it is published: a wrong request is raised as it is (terminal)
    with pytest.raises(ClientError, match="AccessDeniedException"):
        _publish(client)
    # and throttling is the pipeline's retryable error, naming the partition
    with pytest.raises(TransientError, match=r"publish \['2026-10-02'\] of curated.dedup_daily"):
        _publish(client)
