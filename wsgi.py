"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

from gevent import monkey

monkey.patch_all()  # first, before anything imports socket/ssl/threading

from psycogreen.gevent import patch_psycopg  # noqa: E402

patch_psycopg()  # one slow query must not freeze every greenlet of the worker

from photochanger import create_app  # noqa: E402

app = create_app()
