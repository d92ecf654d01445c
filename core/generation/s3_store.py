"""The object store as a bucket of any S3-compatible service (AWS S3, Cloudflare R2, MinIO, ...).

boto3 signs and retries; its client is thread-safe, and every call runs in a worker thread so the
event loop never blocks on the network. Keys live under an optional prefix, so one bucket can hold
several bots.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from core.generation.storage import PAGE, MissingObject, StoredObject

MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Store:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        """`client`: boto3's S3 client (boto3 ships no type hints)."""
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    def location(self, key: str) -> str:
        return f"s3://{self._bucket}/{self._prefix}{key}"

    async def prepare(self) -> None:
        """Fails the start when the bucket cannot be reached with these credentials."""
        await asyncio.to_thread(self._client.head_bucket, Bucket=self._bucket)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self._bucket,
            Key=self._prefix + key,
            Body=data,
            ContentType=_content_type(key),
        )

    async def put_file(self, key: str, source: Path) -> None:
        """boto3 uploads a large file in parts, a part at a time."""
        await asyncio.to_thread(
            self._client.upload_file,
            str(source),
            self._bucket,
            self._prefix + key,
            ExtraArgs={"ContentType": _content_type(key)},
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            try:
                answer = self._client.get_object(Bucket=self._bucket, Key=self._prefix + key)
            except ClientError as error:
                if _missing(error):
                    raise MissingObject(key) from None
                raise
            with answer["Body"] as body:
                return body.read()

        return await asyncio.to_thread(read)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._exists, self._prefix + key)

    async def delete(self, keys: Sequence[str]) -> int:
        """S3 reports a missing key as deleted, so each is looked up first to count what was there."""

        def remove() -> int:
            present = [self._prefix + key for key in keys if self._exists(self._prefix + key)]
            for start in range(0, len(present), PAGE):
                chunk = present[start : start + PAGE]
                answer = self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True},
                )
                if errors := answer.get("Errors"):
                    code = errors[0].get("Code")
                    raise RuntimeError(f"{len(errors)} object(s) could not be deleted: {code}")
            return len(present)

        return await asyncio.to_thread(remove)

    async def listing(self, prefix: str) -> AsyncIterator[list[StoredObject]]:
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {
                "Bucket": self._bucket,
                "Prefix": self._prefix + prefix,
                "MaxKeys": PAGE,
            }
            if token:
                arguments["ContinuationToken"] = token
            answer = await asyncio.to_thread(partial(self._client.list_objects_v2, **arguments))
            page = [
                StoredObject(item["Key"][len(self._prefix) :], item["LastModified"], item["Size"])
                for item in answer.get("Contents", ())
            ]
            if page:
                yield page
            token = answer.get("NextContinuationToken")
            if not answer.get("IsTruncated") or not token:
                return

    def _exists(self, full_key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=full_key)
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True


def _missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in MISSING


def _content_type(key: str) -> str:
    return "image/png" if key.endswith(".png") else "application/zip"
