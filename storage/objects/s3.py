"""S3 object store through boto3: any endpoint, path-style option, multipart, versioned buckets."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from storage.errors import NotFoundError, ObjectStoreUnavailable, StorageError
from storage.objects.base import ObjectStore, StoredObject

_UNREACHABLE = (EndpointConnectionError, BotoCoreError)


@dataclass(frozen=True)
class S3Options:
    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    path_style: bool = False
    multipart_threshold: int = 16 << 20
    multipart_chunk: int = 8 << 20
    connect_timeout_s: int = 5
    max_attempts: int = 3
    create_bucket: bool = False


class S3Store(ObjectStore):
    """The checksum of the encrypted bytes travels as x-amz-meta-sha256 (not personal data)."""

    name = "s3"

    def __init__(self, options: S3Options, client: Any | None = None) -> None:
        self.options = options
        self.bucket = options.bucket
        self._owns_client = client is None  # a client handed in is closed by whoever made it
        self._client: Any = client or boto3.session.Session().client(
            "s3",
            endpoint_url=options.endpoint_url,
            region_name=options.region,
            aws_access_key_id=options.access_key_id,
            aws_secret_access_key=options.secret_access_key,
            config=Config(
                s3={"addressing_style": "path" if options.path_style else "auto"},
                connect_timeout=options.connect_timeout_s,
                read_timeout=60,
                retries={"max_attempts": options.max_attempts, "mode": "standard"},
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=options.multipart_threshold,
            multipart_chunksize=options.multipart_chunk,
            max_concurrency=4,
        )

    def _where(self) -> str:
        return f"s3://{self.bucket} at {self.options.endpoint_url or 'AWS'}"

    def _fail(self, exc: Exception, doing: str) -> StorageError:
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "?")
            if code in ("NoSuchBucket",):
                return StorageError(
                    f"{doing}: bucket {self.bucket} does not exist ({self._where()})"
                )
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
                return StorageError(f"{doing}: access denied by {self._where()} ({code})")
            return StorageError(f"{doing}: {self._where()} answered {code}")
        return ObjectStoreUnavailable(f"{doing}: {self._where()} is unreachable ({exc})")

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchBucket") and self.options.create_bucket:
                self.create_bucket(versioned=True)
                return
            raise self._fail(exc, "checking the bucket") from exc
        except _UNREACHABLE as exc:
            raise self._fail(exc, "checking the bucket") from exc

    def create_bucket(self, *, versioned: bool) -> None:
        try:
            self._client.create_bucket(Bucket=self.bucket)
            if versioned:
                self._client.put_bucket_versioning(
                    Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
                )
        except (ClientError, *_UNREACHABLE) as exc:
            raise self._fail(exc, "creating the bucket") from exc

    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        existing = self.head(key)
        if existing and existing.sha256 == sha256:
            return existing  # a resumed job whose upload had already finished
        try:
            self._client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={
                    "Metadata": {"sha256": sha256},
                    "ContentType": "application/octet-stream",
                },
                Config=self._transfer,
            )
        except (ClientError, *_UNREACHABLE) as exc:
            raise self._fail(exc, f"uploading {key}") from exc
        except Exception as exc:  # s3transfer wraps errors in its own types
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError | BotoCoreError):
                raise self._fail(cause, f"uploading {key}") from exc
            raise
        stored = self.head(key)
        if stored is None or stored.sha256 != sha256:
            raise StorageError(f"uploading {key}: {self._where()} did not keep the object intact")
        return stored

    def head(self, key: str) -> StoredObject | None:
        try:
            r = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail(exc, f"looking up {key}") from exc
        except _UNREACHABLE as exc:
            raise self._fail(exc, f"looking up {key}") from exc
        return StoredObject(
            key, int(r["ContentLength"]), r.get("Metadata", {}).get("sha256"), r.get("VersionId")
        )

    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        extra: dict[str, str] = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            extra["Range"] = f"bytes={start}-{end}"
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise NotFoundError(f"object {key} is not in {self._where()}") from exc
            raise self._fail(exc, f"reading {key}") from exc
        except _UNREACHABLE as exc:
            raise self._fail(exc, f"reading {key}") from exc
        return body  # type: ignore[no-any-return]

    def _version_pairs(self, keys: list[str]) -> list[tuple[str, str]]:
        # One listing per key (its full name as the prefix): the cost follows the batch,
        # not how many recordings share the key's day.
        pairs: list[tuple[str, str]] = []
        wanted = set(keys)
        paginator = self._client.get_paginator("list_object_versions")
        for prefix in sorted(wanted):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if item["Key"] in wanted:
                        pairs.append((item["Key"], item.get("VersionId") or "null"))
        # A key can be a prefix of another (<id> of its compressed <id>.opus): list each once.
        return list(dict.fromkeys(pairs))

    def versions(self, key: str) -> list[str]:
        try:
            return [v for _, v in self._version_pairs([key])]
        except (ClientError, *_UNREACHABLE) as exc:
            raise self._fail(exc, f"listing versions of {key}") from exc

    def destroy(self, keys: list[str]) -> dict[str, int]:
        removed = dict.fromkeys(keys, 0)
        try:
            pairs = self._version_pairs(keys)
            for i in range(0, len(pairs), 1000):  # DeleteObjects takes at most 1,000 per call
                batch = pairs[i : i + 1000]
                r = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={
                        "Objects": [{"Key": k, "VersionId": v} for k, v in batch],
                        "Quiet": False,
                    },
                )
                if r.get("Errors"):
                    first = r["Errors"][0]
                    raise StorageError(
                        f"deleting {first['Key']} version {first.get('VersionId')}: "
                        f"{first.get('Code')} {first.get('Message')} "
                        f"({len(r['Errors'])} errors in the batch)"
                    )
                for d in r.get("Deleted", []):
                    removed[d["Key"]] += 1
        except (ClientError, *_UNREACHABLE) as exc:
            raise self._fail(exc, "destroying objects") from exc
        return removed

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _lock_mode(self) -> str | None:
        """The bucket's Object Lock mode (its default rule's, else COMPLIANCE), or None."""
        try:
            r = self._client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError:
            return None  # no lock configuration (or the server does not know Object Lock)
        except _UNREACHABLE as exc:
            raise self._fail(exc, "reading the bucket's object lock") from exc
        conf = r.get("ObjectLockConfiguration", {})
        if conf.get("ObjectLockEnabled") != "Enabled":
            return None
        mode = conf.get("Rule", {}).get("DefaultRetention", {}).get("Mode")
        return str(mode or "COMPLIANCE")

    def put_bytes(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> None:
        extra: dict[str, Any] = {}
        mode = self._lock_mode() if retain_until else None
        if mode and retain_until:
            md5 = hashlib.md5(data, usedforsecurity=False).digest()  # required with a lock
            extra = {
                "ObjectLockMode": mode,
                "ObjectLockRetainUntilDate": retain_until,
                "ContentMD5": base64.b64encode(md5).decode(),
            }
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/json",
                **extra,
            )
        except (ClientError, *_UNREACHABLE) as exc:
            raise self._fail(exc, f"writing {key}") from exc

    def get_bytes(self, key: str) -> bytes:
        body = self.open(key)
        try:
            return body.read()
        finally:
            body.close()

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except (ClientError, *_UNREACHABLE) as exc:
            raise self._fail(exc, f"listing {prefix}") from exc
        return sorted(keys)
