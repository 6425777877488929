"""gunicorn settings of the bare echo baseline: the same worker model as PhotoChanger."""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

bind = f"127.0.0.1:{os.environ['PORT']}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = 1000
timeout = 120
keepalive = 75
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = "warning"
