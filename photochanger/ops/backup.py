"""``flask backup`` / ``flask restore``: the database and the media store as one folder.

A backup folder holds the database dump, ``media.tar`` (the media folder, or the S3
bucket's objects with ``MEDIA_STORAGE=s3``) and ``manifest.json``. The
database is dumped first, then media archived: every file a job row in the dump names
is in the archive, unless clean-up removed it in between (it had expired). The manifest
is written last, so a folder without one is an unfinished backup and restore refuses it.
Secrets (``SECRET_KEY``/``JWT_SECRET_KEY``, the admin credentials file) are not included.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from sqlalchemy.engine import Engine

from photochanger.clock import utcnow
from photochanger.media.storage import MediaStore
from photochanger.ops import BackupError, database, media_archive
from photochanger.ops.files import published

MANIFEST = "manifest.json"
MEDIA_TAR = "media.tar"
FORMAT = 1


def create_backup(dest: str, engine: Engine, store: MediaStore) -> list[str]:
    """Back up the database of ``engine`` and the media ``store`` (local or S3) into the new folder ``dest``.

    Returns what it did, as lines for the operator; a failure leaves ``dest`` empty.
    """
    started = time.monotonic()
    kind = database.engine_kind(engine)
    if os.path.exists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        raise BackupError(f"{dest} already exists and is not an empty folder: choose a new one")
    os.makedirs(dest, mode=0o700, exist_ok=True)  # password hashes and provider keys inside
    try:
        manifest = _write_backup(dest, engine, store, kind)
    except BaseException:
        for name in os.listdir(dest):
            os.unlink(os.path.join(dest, name))
        raise
    database_bytes, media = manifest["database"]["bytes"], manifest["media"]
    return [
        f"database: {kind} (revision {manifest['revision']}) → {manifest['database']['file']}, "
        f"{_mb(database_bytes)}",
        f"media: {media['files']} files, {_mb(media['content_bytes'])} → {MEDIA_TAR}",
        f"backup written to {dest} in {time.monotonic() - started:.1f} s",
    ]


def _write_backup(dest: str, engine: Engine, store: MediaStore, kind: str) -> dict[str, Any]:
    dump_file = database.DUMP_FILE[kind]
    with published(os.path.join(dest, dump_file)) as partial:
        database.dump(engine, partial)
    with published(os.path.join(dest, MEDIA_TAR)) as partial:
        media = media_archive.write_store_tar(store, partial)
    manifest = {
        "format": FORMAT,
        "created_at": utcnow().isoformat(),
        "engine": kind,
        "revision": database.revision(engine),
        "database": {"file": dump_file, "bytes": os.path.getsize(os.path.join(dest, dump_file))},
        "media": {
            "file": MEDIA_TAR,
            "bytes": os.path.getsize(os.path.join(dest, MEDIA_TAR)),
            "files": media.files,
            "content_bytes": media.bytes,
        },
    }
    with published(os.path.join(dest, MANIFEST)) as partial, open(partial, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
    return manifest


def restore_backup(src: str, engine: Engine, store: MediaStore, *, force: bool = False) -> list[str]:
    """Replace the database of ``engine`` and every stored file of ``store`` by the backup ``src``.

    Refuses a database with rows or a media folder with files unless ``force``.
    """
    started = time.monotonic()
    manifest = _read_manifest(src)
    kind = database.engine_kind(engine)
    if manifest["engine"] != kind:
        raise BackupError(f"the backup holds a {manifest['engine']} database, this app uses {kind}")
    if not force:
        _refuse_overwrite(engine, store)

    database.restore(engine, os.path.join(src, manifest["database"]["file"]))
    media = media_archive.extract_store_tar(os.path.join(src, manifest["media"]["file"]), store)
    now = database.revision(engine)
    return [
        f"database: {kind} restored from the backup of {manifest['created_at']} (revision {now})",
        f"media: {media.files} files, {_mb(media.bytes)} restored into {media_archive.describe(store)}",
        f"restore finished in {time.monotonic() - started:.1f} s; "
        "run `flask db upgrade` if this code is newer than the backup",
    ]


def _read_manifest(src: str) -> dict[str, Any]:
    path = os.path.join(src, MANIFEST)
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        raise BackupError(f"{src} has no {MANIFEST}: not a backup, or one that did not finish") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not a backup manifest of format {FORMAT}")
    try:
        for part in ("database", "media"):
            # only names inside the folder: a manifest never points elsewhere
            manifest[part]["file"] = os.path.basename(manifest[part]["file"])
            file = os.path.join(src, manifest[part]["file"])
            size = os.path.getsize(file) if os.path.exists(file) else None
            if size != manifest[part]["bytes"]:  # copied in part, or changed since
                raise BackupError(f"{file}: {size} bytes, the manifest says {manifest[part]['bytes']}")
    except (KeyError, TypeError) as exc:
        raise BackupError(f"{path}: incomplete manifest ({exc!r})") from exc
    return manifest


def _refuse_overwrite(engine: Engine, store: MediaStore) -> None:
    problems = []
    tables = database.tables_with_rows(engine)
    if tables:
        problems.append(f"the database has rows ({', '.join(tables)})")
    if media_archive.store_has_files(store):
        problems.append(f"{media_archive.describe(store)} has files")
    if problems:
        raise BackupError(" and ".join(problems) + ": restoring would replace them; add --force to do so")


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
