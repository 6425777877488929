"""The S3 backend against a real S3 server: atomic writes, streamed reads, batched deletes."""

from __future__ import annotations

import os
import re

import pytest

from photochanger.clock import utcnow
from photochanger.errors import StorageUnavailable
from photochanger.extensions import db
from photochanger.ingest.ledger import Ledger
from photochanger.ingest.publishing import Publications
from photochanger.media import s3_store
from photochanger.media.s3_store import S3MediaStore, S3Settings
from photochanger.media.storage import Removal
from photochanger.models import MediaKind, MediaObject
from photochanger.runtime import open_store
from tests.support.net import free_port
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY


def _store(endpoint: str, bucket: str, work: str) -> S3MediaStore:
    settings = S3Settings(
        bucket=bucket,
        endpoint_url=endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        connect_timeout=1,
    )
    return S3MediaStore(settings, work)


@pytest.fixture
def store(s3_server, tmp_path):
    return _store(s3_server.url, s3_server.make_bucket(), str(tmp_path / "work"))


def test_write_read_open_and_missing_keys(store):
    store.write_atomic("results/slot-001/j1/payload.jpg", b"jpeg bytes")
    assert store.read("results/slot-001/j1/payload.jpg") == b"jpeg bytes"
    assert store.size("results/slot-001/j1/payload.jpg") == 10
    body, size = store.open("results/slot-001/j1/payload.jpg")
    with body:
        assert (body.read(4), size) == (b"jpeg", 10)
    assert store.exists("results/slot-001/j1/payload.jpg")
    assert not store.exists("results/slot-001/j1/preview.webp")
    with pytest.raises(FileNotFoundError):
        store.read("results/slot-001/nope/payload.jpg")
    store.link_or_copy("results/slot-001/j1/payload.jpg", "provider-media/m1.jpg")
    assert store.read("provider-media/m1.jpg") == b"jpeg bytes"


def test_a_large_file_goes_up_in_parts_and_leaves_no_working_copy(store, s3_server):
    os.makedirs(store.root, exist_ok=True)
    local = os.path.join(store.root, "big.upload")
    data = os.urandom(s3_store.MULTIPART_THRESHOLD + 1024 * 1024)
    with open(local, "wb") as fh:
        fh.write(data)
    store.put_file("inputs/slot-001/big.jpg", local)
    assert not os.path.exists(local)
    head = s3_server.client().head_object(Bucket=store.bucket, Key="inputs/slot-001/big.jpg")
    assert head["ContentLength"] == len(data)
    assert re.fullmatch(r"[0-9a-f]{32}-[0-9]+", head["ETag"].strip('"'))  # a multipart object's ETag
    assert head["ContentType"] == "image/jpeg"
    assert store.read("inputs/slot-001/big.jpg") == data


def test_clean_up_deletes_in_batches_of_keys(store, monkeypatch):
    monkeypatch.setattr(s3_store, "DELETE_BATCH", 2)
    calls = []
    store.client().meta.events.register("before-call.s3.DeleteObjects", lambda **kw: calls.append(kw))
    for job in ("a", "b", "c"):
        store.write_atomic(f"results/slot-001/{job}/payload.jpg", b"x" * 5)
        store.write_atomic(f"results/slot-001/{job}/preview.webp", b"p")
    store.write_atomic("results/slot-001/c/stray.txt", b"?")
    store.write_atomic("inputs/slot-001/a.jpg", b"in")
    removed = store.remove_many(
        [
            Removal("results/slot-001/a", ("payload.jpg", "preview.webp"), 5),
            Removal("results/slot-001/b", ("payload.jpg", "preview.webp"), 5),
            Removal("results/slot-001/c", (), 5),  # whatever the folder holds
            Removal("inputs/slot-001/a.jpg", None, 2),
        ]
    )
    assert [r.freed for r in removed] == [5, 5, 5, 2]
    assert len(calls) == 4  # 8 keys, 2 per DeleteObjects
    assert list(store.objects()) == []


def test_folders_and_their_last_write(store):
    store.write_atomic("results/slot-001/j1/payload.jpg", b"1")
    store.write_atomic("results/slot-001/j2/payload.jpg", b"2")
    store.write_atomic("results/slot-002/j3/payload.jpg", b"3")
    assert store.subfolders("results") == ["slot-001", "slot-002"]
    assert store.subfolders("results/slot-001") == ["j1", "j2"]
    assert store.subfolders("results/slot-009") == []
    assert store.modified_at("results/slot-001/j1") < float("inf")
    assert store.modified_at("results/slot-001/gone") == float("inf")
    assert store.remove_tree("results/slot-001") == 2
    assert list(store.objects("results/slot-001/")) == []
    assert store.modified_at("results/slot-001/j1") == float("inf")  # an orphan pass leaves it be
    assert [o.key for o in store.objects("results/")] == ["results/slot-002/j3/payload.jpg"]


def test_an_unreachable_server_is_storage_unavailable_not_missing(tmp_path):
    store = _store(f"http://127.0.0.1:{free_port()}", "media", str(tmp_path))
    with pytest.raises(StorageUnavailable):
        store.read("results/slot-001/j1/payload.jpg")
    with pytest.raises(StorageUnavailable):
        store.write_atomic("results/slot-001/j1/payload.jpg", b"x")
    check = store.check()
    assert check["status"] == "fail" and check["bucket"] == "media"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"MEDIA_STORAGE": "ftp"}, "expected 'local' or 's3'"),
        ({"MEDIA_STORAGE": "s3"}, "needs S3_BUCKET"),
        (
            {"MEDIA_STORAGE": "s3", "S3_BUCKET": "media", "S3_DOWNLOADS": "proxy"},
            "expected 'redirect' or 'accel'",
        ),
    ],
)
def test_a_misconfigured_store_stops_the_start(config, message, tmp_path):
    with pytest.raises(RuntimeError, match=message):
        open_store({"MEDIA_ROOT": str(tmp_path), **config})


def test_local_is_the_default(tmp_path):
    store = open_store({"MEDIA_ROOT": str(tmp_path)})
    assert store.kind == "local" and store.check() == {"status": "ok", "backend": "local"}


def test_links_retired_while_the_bucket_is_down_end_at_their_deadline(app, tmp_path):
    """Retiring runs in a ``finally`` after the answer is ready: an outage there must not make it a 503."""
    dead = _store(f"http://127.0.0.1:{free_port()}", "media", str(tmp_path))
    media_id, rel = "a" * 32, "provider-media/" + "a" * 32 + ".jpg"
    with app.app_context():
        db.session.add(
            MediaObject(
                id=media_id, kind=MediaKind.PROVIDER_MEDIA, path=rel, mime="image/jpeg", expires_at=utcnow()
            )
        )
        db.session.commit()
        links = Publications(dead, Ledger(), "http://booth.example")
        links.links.append((media_id, rel))
        links.retire()
        row = db.session.get(MediaObject, media_id)
        assert row.cleaned_at is None  # the copy is still there: clean-up removes it once it expired
