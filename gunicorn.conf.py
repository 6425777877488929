"""gunicorn settings for PhotoChanger (gevent workers)."""

from gevent import monkey

monkey.patch_all()  # the master must be patched before it imports anything else

import gc  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402

# Photos and the database are not for other users of the host: files 0640,
# folders 0750, for the master, the start-up checks and every worker.
os.umask(os.umask(0o027) | 0o027)

bind = os.environ.get(
    "GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
# gunicorn's gevent worker, with each request stamped at its first byte (the deadline counts from it).
worker_class = "photochanger.infra.first_byte.FirstByteWorker"
# Greenlets per worker: booths wait up to 60 s on the provider, so many
# requests are in flight at once while using almost no CPU.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
# Well above the 60 s maximum deadline: a worker must never be killed while
# it still owes a booth its answer.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 70
# Longer than nginx's upstream keepalive_timeout (60 s), so nginx closes idle
# connections first and never sends on a socket gunicorn has just closed.
keepalive = 75
# Several masters may run on one host (tests, blue/green): no shared control socket.
control_socket_disable = True
# Off unless asked for: gunicorn's line has the query string (gallery share
# tokens); the app's own http.request line has everything else.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_field_size = 16384

# Prometheus multiprocess mode: the variable must be set before any worker
# imports prometheus_client (workers inherit the master's environment). The
# folder itself is wiped in on_starting, once per master, not on every reload.
_instance = os.environ.get("INSTANCE_PATH") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "instance"
)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(_instance, "prometheus-multiproc"))
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def on_starting(server):
    """Before any worker takes traffic: fresh metrics folder, package import, start-up checks.

    The checks (admin credentials file, jobs a crash left running) build the app,
    so they run in a forked child: an app built here would leave its extensions'
    timers to every worker (see photochanger/startup.py).
    """
    from photochanger.infra.multiproc import prepare_multiproc_dir
    from photochanger.startup import preload_modules, run_checks_forked

    prepare_multiproc_dir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    preload_modules()
    code = run_checks_forked()
    if code != 0:
        # gunicorn prints the exception and exits 1; the child already said why.
        raise RuntimeError(f"start-up checks failed (exit {code}); see the message above")
    # Imported code never becomes garbage: keep it out of every later GC pass
    # (and its pages shared copy-on-write with the workers).
    gc.freeze()


def post_worker_init(worker):
    """The app is built: freeze it too, so full GC passes only scan request garbage.

    A full collection over the app's ~10^5 long-lived objects took ~10 ms,
    paid by whichever booth request happened to trigger it.
    """
    from photochanger.infra.sendfile import install
    from photochanger.integration.runner import start_runner
    from photochanger.jobs.sweeper import start_sweeper

    install()  # zero-copy file answers (gevent's sendfile reads 8 KiB blocks)
    start_sweeper(worker.wsgi)  # jobs of a worker killed mid-ingest fail within 2 minutes
    start_runner(worker.wsgi)  # integration API tasks run in the background (docs/integration-api.md)
    gc.collect()
    gc.freeze()
    # From here the worker accepts connections; "Booting worker" is logged
    # before it has even loaded the app. Ops and the test harness wait for this.
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def child_exit(server, worker):
    """A worker died: its live gauges (in-flight ingests) stop counting."""
    from photochanger.infra.multiproc import mark_worker_dead

    mark_worker_dead(worker.pid)
