"""Removal of expired media: the one code behind ``flask cleanup-media`` (every
slot, from cron) and the admin's per-slot clean-up (``POST /api/slots/<id>/cleanup``).

Safe while traffic runs and when runs overlap (cron on two hosts, a slow run
still going when the next one starts, an admin's click on either worker during
a cron run), because every run follows the rules of :mod:`photochanger.jobs.claims`:

* only the run whose claiming ``UPDATE`` marked a row ``cleaned_at`` removes
  its file, so no file is ever counted (or removed) twice;
* nothing of a job still running within its deadline is touched;
* no result a page may still show: a result whose job is done and within its
  TTL (every result the guest gallery or the admin's slot page shows is one)
  stays, even if its media row says it expired;
* template media (no TTL) are never candidates;
* a result folder with a result row is left to that row's claim; other folders
  go once their job is gone, failed or expired and nothing wrote to them for
  :data:`~photochanger.jobs.recovery.STALE_AFTER`;
* a batch whose files the store could not remove (an S3 outage) is given back
  unclaimed and the run stops with :class:`~photochanger.errors.StorageUnavailable`;
* a photo spooled while it arrived (``media.spool``) is removed only once
  nothing has been written to it for :data:`STALE_SPOOL_AFTER`, and even a
  live upload loses nothing by it: the ingest then writes it from memory.

Work is done in batches (one short transaction per claim) so a large backlog
never holds a long transaction or a lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

from photochanger.clock import utcnow
from photochanger.errors import StorageUnavailable
from photochanger.extensions import db
from photochanger.jobs.claims import claim_ready, expired_batch, folders_to_keep, release_claims
from photochanger.jobs.recovery import STALE_AFTER
from photochanger.media.spool import remove_stale_spools
from photochanger.media.storage import MediaStore, Removal, Removed, preview_path, result_dir
from photochanger.models import MediaKind, MediaObject

DEFAULT_BATCH_SIZE = 200
#: A spool untouched this long was left by a worker killed mid-upload: a live
#: upload writes to it every few milliseconds, and nginx gives up on a client
#: after 60 s without a byte.
STALE_SPOOL_AFTER = dt.timedelta(minutes=10)


@dataclass
class CleanupSummary:
    """What one run did (printed by the command, answered by the per-slot endpoint)."""

    removed: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    orphans_removed: int = 0
    stale_uploads_removed: int = 0
    bytes_freed: int = 0
    skipped_running: int = 0
    skipped_live: int = 0
    claimed_by_other_run: int = 0
    batches: int = 0

    @property
    def total_removed(self) -> int:
        return sum(self.removed.values()) + self.orphans_removed + self.stale_uploads_removed

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{kind}={count}" for kind, count in sorted(self.removed.items())) or "none"
        lines = [
            f"expired media removed: {sum(self.removed.values())} ({kinds})",
            f"orphaned result folders removed: {self.orphans_removed}",
            f"abandoned uploads removed: {self.stale_uploads_removed}",
            f"bytes freed: {self.bytes_freed}",
            f"skipped (job still running): {self.skipped_running}",
            f"claimed by a concurrent run: {self.claimed_by_other_run}",
            f"batches: {self.batches}",
        ]
        if self.skipped_live:  # rows that expired before their job's result: rare enough to point out
            lines.insert(5, f"skipped (result still live): {self.skipped_live}")
        return lines

    def report(self, max_batches: int | None = None) -> dict[str, object]:
        """The global endpoint's answer; ``more_left`` when the run stopped at its batch bound."""
        return {
            "media_cleaned": sum(self.removed.values()),
            "files_removed": self.files_removed,
            "orphan_folders_removed": self.orphans_removed,
            "abandoned_uploads_removed": self.stale_uploads_removed,
            "bytes_freed": self.bytes_freed,
            "more_left": max_batches is not None and self.batches >= max_batches,
        }

    def slot_report(self, slot_id: str) -> dict[str, object]:
        """The per-slot endpoint's answer; the admin pages read ``files_removed`` and ``bytes_freed``."""
        return {
            "slot_id": slot_id,
            "media_cleaned": sum(self.removed.values()),
            "files_removed": self.files_removed,
            "orphan_folders_removed": self.orphans_removed,
            "bytes_freed": self.bytes_freed,
        }


def cleanup_media(
    store: MediaStore,
    *,
    slot_id: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    now: dt.datetime | None = None,
) -> CleanupSummary:
    """Remove expired media, then orphaned result folders, of one slot or (``None``)
    of all, and then abandoned uploads too; loop until done or ``max_batches``.
    """
    now = now or utcnow()
    summary = CleanupSummary()
    skip: set[str] = set()
    # The files of one batch are removed (by the store, in as few operations as
    # it allows) while the next batch is read and claimed, so the database's
    # share of a run costs no time.
    removing: _Batch | None = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        while max_batches is None or summary.batches < max_batches:
            rows = expired_batch(now, batch_size, skip, slot_id)
            if not rows:
                break
            summary.batches += 1
            claimed = claim_ready(rows, now, skip)
            summary.skipped_running += claimed.running
            summary.skipped_live += claimed.live
            summary.claimed_by_other_run += claimed.taken
            removals = [_removal(media) for media in claimed.mine]
            started = _Batch(
                [media.id for media in claimed.mine],
                [media.kind for media in claimed.mine],
                removals,
                pool.submit(store.remove_many, removals),
            )
            try:
                _finish_removals(store, removing, summary)
            except StorageUnavailable:
                with contextlib.suppress(StorageUnavailable):  # its claims are given back too
                    _finish_removals(store, started, summary)
                raise
            removing = started
        _finish_removals(store, removing, summary)
    if max_batches is None or summary.batches < max_batches:
        _remove_orphans(store, now, summary, batch_size, max_batches, slot_id)
    if slot_id is None:  # spools belong to no slot
        files, freed = remove_stale_spools(store, (now - STALE_SPOOL_AFTER).timestamp())
        summary.stale_uploads_removed += files
        summary.bytes_freed += freed
    db.session.rollback()
    return summary


class _Batch(NamedTuple):
    """One batch's removals under way."""

    ids: list[str]
    kinds: list[str]
    removals: list[Removal]
    done: Future[list[Removed]]


def _finish_removals(store: MediaStore, batch: _Batch | None, summary: CleanupSummary) -> None:
    """Wait for one batch's removals, count them, and prune the folders they emptied."""
    if batch is None:
        return
    try:
        results = batch.done.result()
    except StorageUnavailable:
        # Nothing is lost: the rows are claimable again and the next run
        # removes their files (an object deleted meanwhile is no error).
        release_claims(batch.ids)
        raise
    emptied: dict[str, str] = {}  # parent folder -> a path below it
    for kind, removal, done in zip(batch.kinds, batch.removals, results, strict=True):
        summary.removed[kind] = summary.removed.get(kind, 0) + 1
        summary.files_removed += done.existed
        summary.bytes_freed += done.freed
        emptied.setdefault(os.path.dirname(removal.path), removal.path)
    # Once per parent and batch, not per file: a slot's folder holds
    # thousands of results, and each failed rmdir is a system call.
    for path in emptied.values():
        store.prune_empty_parents(path)


def _removal(media: MediaObject) -> Removal:
    """What removing one claimed media means: its result folder, or its one file."""
    if media.kind == MediaKind.RESULT and media.slot_id and media.job_id:
        folder = result_dir(media.slot_id, media.job_id)
        if os.path.dirname(media.path) == folder:
            # The payload and its preview by name; anything else found there
            # makes the local store fall back to a full scan.
            names = (
                os.path.basename(media.path),
                os.path.basename(preview_path(media.slot_id, media.job_id)),
            )
            return Removal(folder, names, media.size_bytes)
        return Removal(folder, (), media.size_bytes)
    return Removal(media.path, None, media.size_bytes)


def _remove_orphans(
    store: MediaStore,
    now: dt.datetime,
    summary: CleanupSummary,
    batch_size: int,
    max_batches: int | None,
    slot_id: str | None,
) -> None:
    """Result folders no job keeps (e.g. left by a crash mid-write, or by a failed job)."""
    candidates = _result_folders(store, slot_id)
    young = (now - STALE_AFTER).timestamp()
    for start in range(0, len(candidates), batch_size):
        if max_batches is not None and summary.batches >= max_batches:
            return
        summary.batches += 1
        chunk = candidates[start : start + batch_size]
        kept = folders_to_keep(chunk, now)
        for folder_slot, job_id in chunk:
            folder = result_dir(folder_slot, job_id)
            if (folder_slot, job_id) not in kept and store.modified_at(folder) < young:
                summary.bytes_freed += store.remove_tree(folder)
                summary.orphans_removed += 1
        for folder_slot in {folder_slot for folder_slot, _ in chunk}:
            store.remove_empty_folder(f"results/{folder_slot}")  # stays while live results remain


def _result_folders(store: MediaStore, slot_id: str | None) -> list[tuple[str, str]]:
    """``(slot_id, job_id)`` of every result folder, of one slot or of all."""
    slots = [slot_id] if slot_id is not None else store.subfolders("results")
    return [(slot, name) for slot in slots for name in store.subfolders(f"results/{slot}")]
