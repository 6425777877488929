"""``flask backup`` and ``flask restore``: thin wrappers over ``photochanger.ops.backup``."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask.cli import with_appcontext

from photochanger.extensions import db
from photochanger.ops import BackupError
from photochanger.ops.backup import create_backup, restore_backup
from photochanger.runtime import services


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False))
@with_appcontext
def backup_command(dest: str) -> None:
    """Write the database and the media (MEDIA_ROOT, or the S3 bucket) into the new folder DEST.

    PostgreSQL: pg_dump (custom format; needs the PostgreSQL client); SQLite: the online
    backup API. Safe while the app serves. Secrets are not included: keep SECRET_KEY or
    JWT_SECRET_KEY and the admin credentials file elsewhere.
    """
    _run(lambda: create_backup(dest, db.engine, services().store))


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.option("--force", is_flag=True, help="Replace a database with rows and media files.")
@with_appcontext
def restore_command(src: str, force: bool) -> None:
    """Replace the database and the media (MEDIA_ROOT, or the S3 bucket) by the backup in SRC.

    Stop the app first.
    """
    db.session.remove()
    _run(lambda: restore_backup(src, db.engine, services().store, force=force))


def _run(action: Callable[[], list[str]]) -> None:
    try:
        lines = action()
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in lines:
        click.echo(line)
