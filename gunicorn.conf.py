"""gunicorn settings for PhotoChanger (gevent workers)."""

from gevent import monkey

monkey.patch_all()  # the master must be patched before it imports anything else

import multiprocessing  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402

bind = os.environ.get(
    "GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
worker_class = "gevent"
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
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_field_size = 16384


def on_starting(server):
    """Before any worker takes traffic: fail jobs a crash left running."""
    from photochanger import create_app
    from photochanger.services.jobs import mark_interrupted

    app = create_app()
    with app.app_context():
        count = mark_interrupted(socket.gethostname())
        if count:
            server.log.warning("marked %d interrupted job(s) as failed", count)
