#!/bin/sh
# Container start: migrate, seed, make sure admins and booths can log in, serve.
# Every step is idempotent, so a restart (or several replicas) is safe.
# Passwords generated on the first start are printed once: read them with
# `docker compose logs app`.
set -eu

cd "${APP_HOME:-/app}"
export FLASK_APP="${FLASK_APP:-photochanger}"
export HOST="${HOST:-0.0.0.0}"

flask db upgrade
flask stats-rollup  # a long history is summed up here, not in the first stats request
flask seed-slots
flask set-ingest-password --if-unset --by docker
flask admin-bootstrap

if [ "$#" -gt 0 ]; then
    exec "$@"  # e.g. `docker compose run app flask cleanup-media`
fi
exec gunicorn -c gunicorn.conf.py wsgi:app
