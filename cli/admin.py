"""``flask admin-bootstrap`` and ``flask list-admins``: the admin accounts of the credentials file."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from photochanger.auth.accounts import CredentialsError, bootstrap, usernames
from photochanger.auth.session import credentials_path


@click.command("admin-bootstrap")
@click.option("--username", help="The account to make sure of (several admins: once per name).")
@with_appcontext
def admin_bootstrap_command(username: str | None) -> None:
    """Without --username: create the credentials file with account ``admin`` when it is
    missing, else only validate it (what ``make run`` does on every start). With
    --username NAME: add that account unless it exists. A new account's random
    password is printed once. Exits non-zero on a malformed file."""
    path = credentials_path(current_app)
    existed = os.path.exists(path)
    try:
        if username is None and existed:
            usernames(path)
            password = None
        else:
            password = bootstrap(path, username or "admin")
    except CredentialsError as exc:
        raise click.ClickException(str(exc)) from None
    if password is None:
        kept = f"; account {username!r} kept" if username else ""
        click.echo(f"admin credentials file {path} is valid{kept}")
        return
    click.echo(f"{'added to' if existed else 'created'} {path}")
    click.echo(f"admin login: {(username or 'admin').strip()}")
    click.echo(f"admin password: {password}")
    click.echo("store this password now: only its bcrypt hash is kept")


@click.command("list-admins")
@with_appcontext
def list_admins_command() -> None:
    """Print the admin usernames of the credentials file, one a line."""
    try:
        names = usernames(credentials_path(current_app))
    except CredentialsError as exc:
        raise click.ClickException(str(exc)) from None
    for name in names:
        click.echo(name)
