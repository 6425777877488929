# PhotoChanger: gunicorn (gevent workers) serving the Flask app on :8000.
# Put nginx in front (nginx/photochanger.conf; docker-compose.yml does).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# pg_dump and pg_restore for `flask backup` / `flask restore`: Debian 12's client is
# PostgreSQL 15, the version docker-compose.yml runs (a client never older than the server).
# DejaVu: a font with Cyrillic for the caption under the QR code printed on results.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first (wheels exist for all of them: no compiler in the image),
# so a code change does not reinstall them.
COPY setup.cfg pyproject.toml README.md ./
COPY photochanger ./photochanger
COPY cli ./cli
RUN pip install .

COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY spec ./spec
COPY nginx ./nginx
COPY wsgi.py gunicorn.conf.py ./
COPY docker/entrypoint.sh ./docker/entrypoint.sh

# A non-root user. Media and the instance folder (SQLite fallback, locks,
# Prometheus multiprocess files, generated credentials) live on volumes.
# Group 101 is the nginx group of the official nginx image: it needs to
# traverse MEDIA_ROOT to serve X-Accel-Redirect downloads.
RUN groupadd --system --gid 101 mediaread \
    && useradd --system --uid 10001 --gid mediaread --home-dir /app --shell /usr/sbin/nologin photochanger \
    && mkdir -p /data/media /data/instance \
    && chown photochanger:mediaread /data/media /data/instance \
    && chmod 0750 /data/media /data/instance

ENV FLASK_APP=photochanger \
    PYTHONPATH=/app \
    APP_HOME=/app \
    INSTANCE_PATH=/data/instance \
    MEDIA_ROOT=/data/media \
    ADMIN_CREDENTIALS_FILE=/data/instance/runtime_credentials.json \
    HOST=0.0.0.0 \
    PORT=8000

USER photochanger
EXPOSE 8000
VOLUME ["/data/media", "/data/instance"]

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1

ENTRYPOINT ["/app/docker/entrypoint.sh"]
