"""Configuration from the environment (DESIGN.md §7).

Runtime knobs that admins change (deadline, TTL, limits, keys) live in the
``app_settings`` table, not here.
"""

from __future__ import annotations

import os
from typing import Any

#: The repository root: templates, static files, migrations, the spec and the default instance folder.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MB = 1024 * 1024
#: Hard cap on an uploaded photo, whatever the settings say.
HARD_UPLOAD_CAP_MB = 20
#: Room for the text fields and multipart framing on top of the file itself.
MULTIPART_OVERHEAD = 256 * 1024


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def normalise_database_url(url: str) -> str:
    """Pin plain PostgreSQL URLs to psycopg2, the driver psycogreen makes cooperative.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, which gevent cannot patch.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class Config:
    """Production defaults, overridden by environment variables."""

    def __init__(self, instance_path: str) -> None:
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            _env("DATABASE_URL", "sqlite:///" + os.path.join(instance_path, "photochanger.db")) or ""
        )
        self.MEDIA_ROOT = _env("MEDIA_ROOT", os.path.join(instance_path, "media"))
        # "local" (files under MEDIA_ROOT) or "s3" (a bucket; MEDIA_ROOT then holds
        # only photos still arriving). docs/storage.md.
        self.MEDIA_STORAGE = (_env("MEDIA_STORAGE", "local") or "local").lower()
        # MEDIA_STORAGE=s3: unset keys fall back to boto3's chain (AWS_ACCESS_KEY_ID, ...).
        self.S3_BUCKET = _env("S3_BUCKET")
        self.S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL")
        self.S3_REGION = _env("S3_REGION") or _env("AWS_DEFAULT_REGION") or "us-east-1"
        self.S3_ACCESS_KEY_ID = _env("S3_ACCESS_KEY_ID")
        self.S3_SECRET_ACCESS_KEY = _env("S3_SECRET_ACCESS_KEY")
        # "path" (MinIO, SeaweedFS, most self-hosted servers) or "virtual" (AWS).
        self.S3_ADDRESSING_STYLE = _env("S3_ADDRESSING_STYLE", "path")
        # Result downloads: "redirect" (302 to a presigned URL) or "accel" (nginx
        # fetches the presigned URL through an internal location, nginx/photochanger.conf).
        self.S3_DOWNLOADS = (_env("S3_DOWNLOADS", "redirect") or "redirect").lower()
        self.S3_PRESIGN_SECONDS = int(_env("S3_PRESIGN_SECONDS", "300") or 300)
        self.LOCK_DIR = _env("LOCK_DIR", os.path.join(instance_path, "locks"))
        self.PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL")
        self.JWT_SECRET_KEY = _env("JWT_SECRET_KEY")
        self.SECRET_KEY = _env("SECRET_KEY") or self.JWT_SECRET_KEY
        self.ADMIN_CREDENTIALS_FILE = _env(
            "ADMIN_CREDENTIALS_FILE", os.path.join("secrets", "runtime_credentials.json")
        )
        self.GEMINI_API_KEY = _env("GEMINI_API_KEY")
        self.TURBOTEXT_API_KEY = _env("TURBOTEXT_API_KEY")
        self.GEMINI_API_BASE = _env("GEMINI_API_BASE", "https://generativelanguage.googleapis.com")
        self.TURBOTEXT_API_BASE = _env("TURBOTEXT_API_BASE", "https://www.turbotext.ru")
        self.TURBOTEXT_POLL_INTERVAL = float(_env("TURBOTEXT_POLL_INTERVAL", "2.5") or 2.5)
        # The providers' own SDK variable names (OPENAI_API_KEY, FAL_KEY) work as well.
        self.GPT_IMAGE_API_KEY = _env("GPT_IMAGE_API_KEY") or _env("OPENAI_API_KEY")
        self.GPT_IMAGE_API_BASE = _env("GPT_IMAGE_API_BASE", "https://api.openai.com")
        self.FAL_API_KEY = _env("FAL_API_KEY") or _env("FAL_KEY")
        self.FAL_API_BASE = _env("FAL_API_BASE", "https://queue.fal.run")
        self.FAL_POLL_INTERVAL = float(_env("FAL_POLL_INTERVAL", "1.0") or 1.0)
        self.COMFYUI_API_KEY = _env("COMFYUI_API_KEY")
        self.COMFYUI_API_BASE = _env("COMFYUI_API_BASE", "http://127.0.0.1:8188")
        self.COMFYUI_POLL_INTERVAL = float(_env("COMFYUI_POLL_INTERVAL", "1.0") or 1.0)
        self.HTTP_SERVICE_API_KEY = _env("HTTP_SERVICE_API_KEY")
        self.PROVIDER_MAX_INPUT_SIDE = int(_env("PROVIDER_MAX_INPUT_SIDE", "2048") or 2048)
        # Smallest longest side worth sending for a 1K result (providers/gemini.py):
        # between this and the maximum, a photo is shrunk without a resampling pass.
        self.PROVIDER_MIN_INPUT_SIDE = int(_env("PROVIDER_MIN_INPUT_SIDE", "1024") or 1024)
        # Redis shared by several app hosts (redis://host:6379/0): concurrency
        # permits, job heartbeats and, by default, the throttles. Unset: all of
        # them stay host-local (lock files in LOCK_DIR), as on a single host.
        self.REDIS_URL = _env("REDIS_URL")
        # Seconds a Redis permit outlives a worker that stopped renewing it (killed, frozen).
        self.REDIS_LEASE_SECONDS = float(_env("REDIS_LEASE_SECONDS", "15") or 15)
        # Unset: REDIS_URL when set, else flock-ed files in LOCK_DIR, shared by
        # the workers of this host (photochanger/auth/session.py).
        self.RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI")
        # redis://… shared by every host: provider circuit breakers (infra/circuit.py)
        # and permits; unset, each host keeps them in LOCK_DIR.
        self.REDIS_URL = _env("REDIS_URL")
        # Proxies in front of the app whose X-Forwarded-For/-Proto are believed
        # (1 behind the shipped nginx); 0 when clients connect directly, so no
        # client can pretend to be another address.
        self.TRUSTED_PROXY_COUNT = int(_env("TRUSTED_PROXY_COUNT", "0") or 0)
        # Hosts Turbotext result images may come from (comma-separated); empty: the API base's host.
        self.TURBOTEXT_RESULT_HOSTS = _env("TURBOTEXT_RESULT_HOSTS", "")
        # Largest answer read from any provider (MB): a bigger one is a bad_response.
        self.PROVIDER_MAX_ANSWER_MB = int(_env("PROVIDER_MAX_ANSWER_MB", "64") or 64)
        self.LOG_LEVEL = _env("LOG_LEVEL", "INFO")
        # Bearer token Prometheus must send to /metrics; unset: /metrics is open
        # (then restrict it in nginx or the firewall).
        self.METRICS_TOKEN = _env("METRICS_TOKEN")
        # Behind nginx: result downloads are answered with X-Accel-Redirect and
        # nginx sends the file from disk (nginx/photochanger.conf).
        self.USE_X_ACCEL_REDIRECT = (_env("USE_X_ACCEL_REDIRECT", "0") or "0").lower() in ("1", "true", "yes")
        self.MAX_CONTENT_LENGTH = HARD_UPLOAD_CAP_MB * MB + MULTIPART_OVERHEAD
        # A ZIP batch may be bigger than one photo (POST /api/v1/batches only; MB).
        self.BATCH_MAX_ZIP_MB = int(_env("BATCH_MAX_ZIP_MB", "200") or 200)
        # Werkzeug keeps form parts up to this size in memory, bigger ones
        # spill to a temporary file: photos never sit twice in RAM.
        self.MAX_FORM_MEMORY_SIZE = 512 * 1024
        # Seconds a request waits for a SQLite lock another process holds before
        # it is answered 503 database_unavailable (the wait lets other requests run).
        self.DATABASE_BUSY_TIMEOUT = float(_env("DATABASE_BUSY_TIMEOUT", "1.5") or 1.5)
        # Seconds between a worker's sweeps for jobs a killed worker left running.
        self.JOB_SWEEP_SECONDS = float(_env("JOB_SWEEP_SECONDS", "20") or 20)
        # Integration API tasks a worker runs at once (each also needs a slot and a provider permit).
        self.API_JOB_CONCURRENCY = int(_env("API_JOB_CONCURRENCY", "4") or 4)
        # Seconds between a worker's looks at the task queue when nothing woke it.
        self.API_POLL_SECONDS = float(_env("API_POLL_SECONDS", "2") or 2)
        # Webhooks may call loopback and private addresses (a studio's own LAN service, tests).
        self.WEBHOOK_ALLOW_PRIVATE = (_env("WEBHOOK_ALLOW_PRIVATE", "0") or "0").lower() in (
            "1",
            "true",
            "yes",
        )
        # ZIP batches: most photos and most bytes, unpacked, one batch may hold.
        self.BATCH_MAX_FILES = int(_env("BATCH_MAX_FILES", "100") or 100)
        self.BATCH_MAX_UNPACKED_MB = int(_env("BATCH_MAX_UNPACKED_MB", "500") or 500)
        # Seconds without a byte of a request body before it is answered 408 and closed.
        self.BODY_IDLE_TIMEOUT = float(_env("BODY_IDLE_TIMEOUT", "15") or 15)
        # Uploads still arriving at once, per client address and in total on this host:
        # beyond them an upload is refused at once (429 / 503), before its body is read.
        self.UPLOADS_PER_CLIENT = int(_env("UPLOADS_PER_CLIENT", "8") or 8)
        self.UPLOADS_IN_FLIGHT = int(_env("UPLOADS_IN_FLIGHT", "200") or 200)
        # /healthz fails below this much free space on the media disk (MB).
        self.HEALTH_MIN_FREE_MB = int(_env("HEALTH_MIN_FREE_MB", "200") or 200)
        # No pool_pre_ping: PostgreSQL connections are checked on checkout
        # without a round trip (connection_check); SQLite has none to lose.
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.isupper()}
