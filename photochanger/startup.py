"""Start-up checks the gunicorn master runs once, in a child process, before any worker forks.

The checks build the app, refuse a missing or malformed admin credentials file
(naming it), and mark jobs a crash left running on this host as failed
``interrupted``. They run in a child because an app built inside the gunicorn
master would hand its extensions' background timers (Flask-Limiter's memory
storage) to every forked worker, where gevent trips over them. The master only
imports the package (:func:`preload_modules`), which builds nothing, then forks
the child (:func:`run_checks_forked`) so that the child starts with the imports
done. ``python -m photochanger.startup`` runs the same checks by hand.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import socket
import sys
import traceback


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


def run_checks_forked() -> int:
    """Run :func:`main` in a forked child and return its exit code; the caller builds nothing.

    Forking after :func:`preload_modules` spares the child a second interpreter
    start and the package import, which cost more than the checks themselves.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in os._exit, coverage never hears of it
        code = 1
        try:
            code = main()
        except BaseException:  # noqa: BLE001 - whatever ends the child is printed before os._exit hides it
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
