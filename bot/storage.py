"""The object store `[storage]` names: the local folder, or an S3-compatible bucket."""

from __future__ import annotations

from bot.config import StorageSettings
from core.generation.folder_store import FolderStore
from core.generation.storage import Storage

S3_TIMEOUT_S = 30
S3_ATTEMPTS = 3


def build_storage(settings: StorageSettings) -> Storage:
    if settings.backend == "local":
        return Storage(FolderStore(settings.data_dir))
    import boto3  # a second to import: only where the bucket is used
    from botocore.config import Config

    from core.generation.s3_store import S3Store

    keys = {}
    if settings.access_key_id is not None and settings.secret_access_key is not None:
        keys = {
            "aws_access_key_id": settings.access_key_id.get_secret_value(),
            "aws_secret_access_key": settings.secret_access_key.get_secret_value(),
        }
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=Config(
            connect_timeout=S3_TIMEOUT_S,
            read_timeout=S3_TIMEOUT_S,
            retries={"max_attempts": S3_ATTEMPTS, "mode": "standard"},
        ),
        **keys,
    )
    assert settings.bucket is not None  # checked with the settings
    return Storage(S3Store(client, settings.bucket, settings.prefix))
