"""A real S3-compatible server for the tests: moto's standalone server on 127.0.0.1 (a free port),
one per test process, and a bucket of its own for each test that asks for one."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

REGION = "us-east-1"
KEYS = {"access_key_id": "testing", "secret_access_key": "testing"}  # moto accepts any


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer  # imports every AWS service moto knows: only when needed

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@functools.cache  # one client per server: building one takes a fifth of a second
def s3_client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEYS["access_key_id"],
        aws_secret_access_key=KEYS["secret_access_key"],
    )


@pytest.fixture
def s3_storage(s3_endpoint: str) -> dict[str, Any]:
    """The `[storage]` settings of a new, empty bucket."""
    bucket = f"test-{secrets.token_hex(6)}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    return {"backend": "s3", "bucket": bucket, "endpoint_url": s3_endpoint, "region": REGION, **KEYS}


def bucket_keys(settings: dict[str, Any]) -> list[str]:
    """Every key in the bucket of these settings, read with a client of the test's own."""
    client = s3_client(settings["endpoint_url"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=settings["bucket"])
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))
