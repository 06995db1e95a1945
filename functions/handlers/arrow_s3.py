"""pyarrow's S3 filesystem for the handlers that scan S3 objects in place (a module of its
own: the small functions that import `clients` load no dataframe library)."""

from __future__ import annotations

import os
from functools import cache
from urllib.parse import urlsplit

import boto3
import pyarrow.fs as pafs

from functions.core import env


@cache
def filesystem() -> pafs.S3FileSystem:
    """Paths `bucket/key`, in the region and at the endpoint the boto3 clients use: pyarrow
    reads the credentials from the environment as boto3 does, but not AWS_ENDPOINT_URL."""
    endpoint = urlsplit(os.environ.get(env.AWS_ENDPOINT_URL, ""))
    region = boto3.session.Session().region_name
    if not endpoint.netloc:
        return pafs.S3FileSystem(region=region)
    return pafs.S3FileSystem(
        region=region, endpoint_override=endpoint.netloc, scheme=endpoint.scheme or "https"
    )
