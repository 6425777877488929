"""The S3-compatible media backend (``MEDIA_STORAGE=s3``): AWS S3, MinIO, SeaweedFS, ...

Objects are keyed by the same relative paths as files under ``MEDIA_ROOT``.
A ``PutObject`` is atomic and a multipart upload's object appears only when
it completes, so a reader never sees half an object. boto3 (botocore) does
the signing, retries and multipart transfers: a maintained client every S3
server is tested against, rather than hand-written SigV4.

Every failure other than "no such key" is raised as
:class:`~photochanger.errors.StorageUnavailable`, which the app answers 503.
"""

from __future__ import annotations

import io
import mimetypes
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

from photochanger.errors import StorageUnavailable
from photochanger.media.storage import MediaStore, Removal, Removed

#: The most keys one ``DeleteObjects`` request takes (the S3 API's limit).
DELETE_BATCH = 1000
#: Files larger than this go up in parts, a part at a time (bounded memory).
MULTIPART_THRESHOLD = 16 * 1024 * 1024
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is and how to reach it (from the environment, ``config.py``)."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    addressing_style: str = "path"
    presign_seconds: int = 300
    connect_timeout: float = 3.0
    read_timeout: float = 20.0
    #: ``/healthz`` waits at most about this long for the bucket
    health_timeout: float = 2.0


@dataclass(frozen=True)
class StoredObject:
    """One object of the bucket as a listing shows it."""

    key: str
    size: int
    modified: float


class S3MediaStore(MediaStore):
    """Stored media as objects in one bucket; ``root`` holds only local working copies."""

    kind = "s3"

    def __init__(self, settings: S3Settings, work_root: str) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.root = os.path.abspath(work_root)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- clients -------------------------------------------------------------

    def client(self, purpose: str = "data") -> Any:
        """A boto3 client, made on first use: one per OS thread, shared by that thread's greenlets.

        Under gevent a pooled connection belongs to the event loop of the thread that opened
        it; a preparation thread (``in_thread``) reading the input on the loop's connection
        fails with "Cannot switch to a different thread", so each thread keeps its own pool.
        """
        key = f"{purpose}@{threading.get_native_id()}"
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key) or self._new_client(purpose)
                self._clients[key] = client
        return client

    def _new_client(self, purpose: str) -> Any:
        import boto3
        from botocore.config import Config

        s = self.settings
        if purpose == "health":  # one quick attempt: a load balancer polls again soon
            timeouts: dict[str, Any] = {
                "connect_timeout": s.health_timeout,
                "read_timeout": s.health_timeout,
                "retries": {"max_attempts": 1, "mode": "standard"},
            }
        else:
            timeouts = {
                "connect_timeout": s.connect_timeout,
                "read_timeout": s.read_timeout,
                "retries": {"max_attempts": 2, "mode": "standard"},
            }
        config = Config(
            s3={"addressing_style": s.addressing_style},
            signature_version="s3v4",
            max_pool_connections=50,
            **timeouts,
        )
        # Unset keys fall through to boto3's own chain (AWS_ACCESS_KEY_ID, a role, ...).
        return boto3.session.Session().client(
            "s3",
            endpoint_url=s.endpoint_url,
            region_name=s.region,
            aws_access_key_id=s.access_key_id,
            aws_secret_access_key=s.secret_access_key,
            config=config,
        )

    def _call(self, operation: str, **params: Any) -> Any:
        """One S3 request; a missing key raises FileNotFoundError, anything else StorageUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client(), operation)(Bucket=self.bucket, **params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                raise FileNotFoundError(params.get("Key", "")) from None
            raise StorageUnavailable(f"S3 {operation}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 {operation}: {type(exc).__name__}: {exc}") from exc

    def _transfer(self, upload: Any, relpath: str) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError
        from s3transfer.exceptions import S3UploadFailedError

        # One part at a time in this greenlet: under gevent, threads buy nothing.
        config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, use_threads=False)
        extra = {"ContentType": _mime(relpath)}
        try:
            upload(Bucket=self.bucket, Key=relpath, ExtraArgs=extra, Config=config)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise StorageUnavailable(f"S3 upload of {relpath}: {type(exc).__name__}: {exc}") from exc

    # -- writes ----------------------------------------------------------------

    def write_atomic(self, relpath: str, data: bytes) -> None:
        self._transfer(lambda **kw: self.client().upload_fileobj(io.BytesIO(data), **kw), relpath)

    def write_opened(self, relpath: str, data: bytes) -> tuple[BinaryIO, int]:
        """The answer comes from the bytes in hand, not from a second request to the bucket."""
        self.write_atomic(relpath, data)
        return io.BytesIO(data), len(data)

    def write_stream(self, relpath: str, stream: IO[bytes]) -> None:
        """Store a readable stream (a restore's archive member) without holding it in memory."""
        self._transfer(lambda **kw: self.client().upload_fileobj(stream, **kw), relpath)

    def put_file(self, relpath: str, local_file: str) -> None:
        self._transfer(lambda **kw: self.client().upload_file(local_file, **kw), relpath)
        os.unlink(local_file)

    def link_or_copy(self, src_relpath: str, dst_relpath: str) -> None:
        """A server-side copy: the bytes never pass through the app."""
        source = {"Bucket": self.bucket, "Key": src_relpath}
        self._call("copy_object", Key=dst_relpath, CopySource=source, ContentType=_mime(dst_relpath))

    # -- reads -----------------------------------------------------------------

    def open(self, relpath: str) -> tuple[BinaryIO, int]:
        """The object's body as a stream: large results never sit in memory whole."""
        answer = self._call("get_object", Key=relpath)
        return cast(BinaryIO, _Body(answer["Body"])), int(answer["ContentLength"])

    def size(self, relpath: str) -> int | None:
        try:
            return int(self._call("head_object", Key=relpath)["ContentLength"])
        except FileNotFoundError:
            return None

    def sizes(self, relpaths: Sequence[str]) -> dict[str, int]:
        """One listing per folder of folders (a slot's results), not one request per file."""
        wanted = set(relpaths)
        if len(wanted) <= 3:
            return super().sizes(relpaths)
        found: dict[str, int] = {}
        for prefix in sorted({rel.rsplit("/", 2)[0] + "/" for rel in wanted}):
            for obj in self.objects(prefix):
                if obj.key in wanted:
                    found[obj.key] = obj.size
        return found

    def objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object under ``prefix``, a listing page (1000 keys) per request."""
        for page in self._pages(prefix, None):
            for obj in page.get("Contents", []):
                yield StoredObject(obj["Key"], int(obj["Size"]), obj["LastModified"].timestamp())

    def subfolders(self, relpath: str) -> list[str]:
        prefix = relpath.rstrip("/") + "/"
        found = [c["Prefix"] for page in self._pages(prefix, "/") for c in page.get("CommonPrefixes", [])]
        return sorted(name[len(prefix) :].rstrip("/") for name in found)

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        try:
            yield from self.client().get_paginator("list_objects_v2").paginate(**params)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"S3 list {prefix}: {type(exc).__name__}: {exc}") from exc

    def modified_at(self, relpath: str) -> float:
        times = [o.modified for o in self.objects(relpath.rstrip("/") + "/")]
        return max(times, default=float("inf"))

    def presigned_url(self, relpath: str, download_name: str, mime: str) -> str | None:
        """A GET URL valid for ``presign_seconds``; S3 answers it with our type and file name."""
        params = {
            "Bucket": self.bucket,
            "Key": relpath,
            "ResponseContentType": mime,
            "ResponseContentDisposition": f'attachment; filename="{download_name}"',
            "ResponseCacheControl": "private, no-store",
        }
        url: str = self.client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.settings.presign_seconds
        )
        return url

    # -- removal ---------------------------------------------------------------

    def remove(self, relpath: str) -> bool:
        """S3 deletes succeed whether or not the key existed, so ``True``."""
        self._call("delete_object", Key=relpath)
        return True

    def remove_tree(self, relpath: str) -> int:
        found = list(self.objects(relpath.rstrip("/") + "/"))
        self.delete_keys([o.key for o in found])
        return sum(o.size for o in found)

    def remove_many(self, removals: Sequence[Removal]) -> list[Removed]:
        """One ``DeleteObjects`` per 1000 keys; freed bytes are the recorded sizes."""
        keys: list[str] = []
        for removal in removals:
            if removal.names is None:
                keys.append(removal.path)
            elif removal.names:
                keys.extend(f"{removal.path}/{name}" for name in removal.names)
            else:  # no names known: whatever the folder holds
                keys.extend(o.key for o in self.objects(removal.path + "/"))
        self.delete_keys(keys)
        return [Removed(removal.size, True) for removal in removals]

    def delete_keys(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            chunk = keys[start : start + DELETE_BATCH]
            answer = self._call(
                "delete_objects", Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
            errors = [e for e in answer.get("Errors", []) if e.get("Code") not in _MISSING_CODES]
            if errors:
                raise StorageUnavailable(
                    f"S3 delete_objects: {errors[0].get('Code')} on {errors[0].get('Key')}"
                )

    # -- health ----------------------------------------------------------------

    def check(self) -> dict[str, object]:
        """``HeadBucket`` within ``health_timeout``: reachable, the bucket exists, the keys work."""
        from botocore.exceptions import BotoCoreError, ClientError

        out: dict[str, object] = {"backend": self.kind, "bucket": self.bucket}
        try:
            self.client("health").head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            return {**out, "status": "fail", "detail": f"HeadBucket: {code}"}
        except BotoCoreError as exc:
            return {**out, "status": "fail", "detail": type(exc).__name__}
        return {**out, "status": "ok"}


class _Body(io.RawIOBase):
    """A botocore ``StreamingBody`` as a file object (``wrap_file`` and ``with`` need one)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        from botocore.exceptions import BotoCoreError

        try:
            data: bytes = self._stream.read(None if size is None or size < 0 else size)
        except (BotoCoreError, OSError) as exc:
            raise StorageUnavailable(f"S3 read: {type(exc).__name__}: {exc}") from exc
        return data

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


def _mime(relpath: str) -> str:
    return mimetypes.guess_type(relpath)[0] or "application/octet-stream"
