"""``flask admin-bootstrap``: make sure admins can log in on a fresh machine."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from photochanger.auth.accounts import CredentialsError, bootstrap
from photochanger.auth.session import credentials_path


@click.command("admin-bootstrap")
@click.option(
    "--username", default="admin", show_default=True, help="Account created when the file is missing."
)
@with_appcontext
def admin_bootstrap_command(username: str) -> None:
    """Create the admin credentials file with a random password (printed once),
    or validate the existing one. Exits non-zero on a malformed file."""
    path = credentials_path(current_app)
    try:
        password = bootstrap(path, username)
    except CredentialsError as exc:
        raise click.ClickException(str(exc)) from None
    if password is None:
        click.echo(f"admin credentials file {path} is valid; kept")
        return
    click.echo(f"created {path}")
    click.echo(f"admin login: {username}")
    click.echo(f"admin password: {password}")
    click.echo("store this password now: only its bcrypt hash is kept")
