"""Start-up checks the gunicorn master runs once, in a child process, before any worker forks.

``python -m photochanger.startup`` builds the app, refuses a missing or
malformed admin credentials file (naming it), and marks jobs a crash left
running on this host as failed ``interrupted``. It runs in a separate process
because an app built inside the gunicorn master would hand its extensions'
background timers (Flask-Limiter's memory storage) to every forked worker,
where gevent trips over them. The master then only imports the package
(:func:`preload_modules`), which builds nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
import socket
import sys


def run_checks() -> int:
    """Run the checks; returns how many interrupted jobs were marked failed."""
    from photochanger import create_app
    from photochanger.auth.session import check_credentials_at_start
    from photochanger.integration.tasks import take_back
    from photochanger.jobs.recovery import mark_interrupted

    app = create_app()
    check_credentials_at_start(app)
    with app.app_context():
        count = mark_interrupted(socket.gethostname())
        # This host's workers are gone: their integration tasks queue again (or fail after the last try).
        take_back(socket.gethostname())
        return count


def preload_modules() -> int:
    """Import every module of the package, without building the app; returns the count.

    Called in the gunicorn master after the checks: forked workers then share
    the imported code copy-on-write and boot in milliseconds. Safe because no
    module has import-time side effects (extensions are only bound to an app
    by ``create_app``).
    """
    import photochanger

    count = 0
    for module in pkgutil.walk_packages(photochanger.__path__, "photochanger."):
        if module.name != __name__:
            importlib.import_module(module.name)
            count += 1
    return count


def main() -> int:
    try:
        count = run_checks()
    except RuntimeError as exc:
        print(f"photochanger: start-up check failed: {exc}", file=sys.stderr)
        return 1
    if count:
        print(f"photochanger: marked {count} interrupted job(s) as failed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
