"""The local store against clean-up pruning the folders it writes into.

Clean-up removes the folders below a kind folder that it empties
(``prune_empty_parents``); a writer that has just made such a folder must still
land its file.
"""

from __future__ import annotations

import os

import pytest

from photochanger.media import storage
from photochanger.media.storage import LocalMediaStore


@pytest.fixture
def store(tmp_path) -> LocalMediaStore:
    return LocalMediaStore(str(tmp_path / "media"))


@pytest.fixture
def pruned_after_making(monkeypatch):
    """Make each of the next ``n`` ``os.makedirs`` calls lose its folder at once, as a prune would."""
    real = os.makedirs

    def arm(store: LocalMediaStore, n: int = 1) -> None:
        left, depth = [n], [0]

        def makedirs(path, *args, **kwargs):
            depth[0] += 1  # os.makedirs makes parents by calling itself
            try:
                real(path, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0 and left[0] > 0 and str(path).startswith(store.root + os.sep):
                left[0] -= 1
                store.prune_empty_parents(os.path.join(path, "gone"))

        monkeypatch.setattr(os, "makedirs", makedirs)

    return arm


def test_a_write_lands_when_its_new_folder_is_pruned_before_the_file_is_made(store, pruned_after_making):
    pruned_after_making(store)
    store.write_atomic("inputs/slot-001/job.jpg", b"photo")
    assert store.read("inputs/slot-001/job.jpg") == b"photo"


def test_a_nested_result_folder_pruned_up_to_its_kind_folder_is_made_again(store, pruned_after_making):
    pruned_after_making(store)
    store.write_atomic("results/slot-001/job/payload.jpg", b"result")
    assert store.read("results/slot-001/job/payload.jpg") == b"result"


def test_a_moved_in_file_lands_when_its_folder_is_pruned(store, pruned_after_making):
    os.makedirs(store.root)
    src = os.path.join(store.root, ".upload-1")
    with open(src, "wb") as fh:
        fh.write(b"upload")
    pruned_after_making(store)
    store.put_file("inputs/slot-001/job.jpg", src)
    assert store.read("inputs/slot-001/job.jpg") == b"upload"


def test_a_link_lands_when_its_folder_is_pruned(store, pruned_after_making):
    store.write_atomic("inputs/slot-001/job.jpg", b"photo")
    pruned_after_making(store)
    store.link_or_copy("inputs/slot-001/job.jpg", "results/slot-001/job/payload.jpg")
    assert store.read("results/slot-001/job/payload.jpg") == b"photo"


def test_a_folder_pruned_inside_makedirs_is_made_again(store, monkeypatch):
    # os.makedirs(exist_ok=True) raises FileExistsError when its mkdir found the
    # folder but the folder is gone by the time it checks that it is one.
    real, calls = os.makedirs, []

    def makedirs(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 1:
            raise FileExistsError(17, "File exists", path)
        real(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", makedirs)
    store.write_atomic("inputs/slot-001/job.jpg", b"photo")
    assert store.read("inputs/slot-001/job.jpg") == b"photo"


def test_a_folder_that_keeps_vanishing_is_an_error_not_a_loop(store, pruned_after_making):
    pruned_after_making(store, n=storage.FOLDER_RACE_TRIES)
    with pytest.raises(FileNotFoundError):
        store.write_atomic("inputs/slot-001/job.jpg", b"photo")
    assert not os.path.exists(store.abspath("inputs/slot-001"))


def test_a_missing_source_is_still_reported_as_missing(store):
    with pytest.raises(FileNotFoundError):
        store.put_file("inputs/slot-001/job.jpg", os.path.join(store.root, "no-such-upload"))
    with pytest.raises(FileNotFoundError):
        store.link_or_copy("inputs/slot-001/nope.jpg", "provider-media/m1.jpg")
