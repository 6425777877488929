"""Thin click wrappers over the services: seeding, passwords, recovery, clean-up, backups."""

from __future__ import annotations

import socket

import click
from flask.cli import with_appcontext

from cli.admin import admin_bootstrap_command, list_admins_command
from cli.ops import backup_command, restore_command
from photochanger.auth.passwords import MIN_INGEST_PASSWORD, generate_password, hash_password
from photochanger.clock import utcnow
from photochanger.errors import StorageUnavailable
from photochanger.extensions import db
from photochanger.jobs.cleanup import cleanup_media
from photochanger.jobs.recovery import mark_interrupted, mark_orphaned
from photochanger.runtime import services
from photochanger.settings.store import load_settings, save_setting
from photochanger.slots.catalog import invalid_slots, seed_slots
from photochanger.stats.rollup import roll_up_closed_days


@click.command("seed-slots")
@with_appcontext
def seed_slots_command() -> None:
    """Create slot-001 … slot-015 (idempotent; existing slots are kept as they are)."""
    drivers = services().drivers
    created, existing = seed_slots(drivers)
    click.echo(f"created {len(created)} slot(s), kept {len(existing)} existing")
    for slot_id, problems in invalid_slots(drivers).items():
        for p in problems:
            click.echo(f"warning: {slot_id}: {p.field}: {p.message}", err=True)


@click.command("set-ingest-password")
@click.option("--password", help="The new password; a random one is generated when omitted.")
@click.option("--if-unset", is_flag=True, help="Do nothing when a password is already set.")
@click.option("--by", "updated_by", default="cli", show_default=True, help="Recorded as who rotated it.")
@with_appcontext
def set_ingest_password_command(password: str | None, if_unset: bool, updated_by: str) -> None:
    """Store the global ingest password (as a bcrypt hash) and print it."""
    if if_unset and load_settings().ingest_password_hash:
        click.echo("ingest password already set; kept")
        return
    password = password or generate_password()
    if len(password) < MIN_INGEST_PASSWORD:
        raise click.BadParameter(f"at least {MIN_INGEST_PASSWORD} characters", param_hint="--password")
    save_setting("ingest_password_hash", hash_password(password), updated_by)
    db.session.commit()
    click.echo(f"ingest password: {password}")


@click.command("hash-password")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def hash_password_command(password: str) -> None:
    """Print a bcrypt hash (for the admin credentials file)."""
    click.echo(hash_password(password))


@click.command("recover-jobs")
@with_appcontext
def recover_jobs_command() -> None:
    """Mark jobs left running by a crash as failed/interrupted."""
    count = mark_interrupted(socket.gethostname())
    click.echo(f"marked {count} interrupted job(s)")


@click.command("cleanup-media")
@click.option(
    "--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000), help="Rows per batch."
)
@click.option(
    "--max-batches",
    default=None,
    type=click.IntRange(1),
    help="Stop after this many batches (default: until done).",
)
@with_appcontext
def cleanup_media_command(batch_size: int, max_batches: int | None) -> None:
    """Remove expired results, inputs, provider media and temp files; remove orphaned result folders;
    fail jobs a killed worker left running.

    Safe while traffic runs and when runs overlap; meant for cron every 15 minutes.
    """
    orphaned = mark_orphaned()  # a cron run also fails jobs a killed worker left running
    try:
        summary = cleanup_media(services().store, batch_size=batch_size, max_batches=max_batches)
    except StorageUnavailable as exc:
        raise click.ClickException(
            f"media storage unavailable ({exc}); what is left is removed by the next run"
        ) from exc
    for line in summary.lines():
        click.echo(line)
    click.echo(f"interrupted jobs: {orphaned}")


@click.command("stats-rollup")
@with_appcontext
def stats_rollup_command() -> None:
    """Sum up closed days for the stats page now (after deploying, on a long history).

    The stats page does this itself on first use; on millions of job rows that
    first call takes about a second per million rows while job writers wait, so
    deployments run it right after ``flask db upgrade``. Safe to repeat.
    """
    days = roll_up_closed_days(utcnow())
    click.echo(f"rolled up {days} day(s)")


ALL = [
    seed_slots_command,
    set_ingest_password_command,
    hash_password_command,
    recover_jobs_command,
    admin_bootstrap_command,
    list_admins_command,
    cleanup_media_command,
    stats_rollup_command,
    backup_command,
    restore_command,
]
