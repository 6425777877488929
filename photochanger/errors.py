"""JSON error answers with Russian messages (DESIGN.md §3)."""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

_log = logging.getLogger("photochanger.http")

#: failure_reason -> (HTTP status, Russian message)
REASONS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Некорректный запрос"),
    "hash_mismatch": (409, "Поле hash не совпадает с SHA-1 полученного файла"),
    "unauthorized": (401, "Неверный или отсутствующий пароль"),
    "invalid_credentials": (401, "Неверное имя пользователя или пароль"),
    "forbidden": (403, "Доступ запрещён"),
    "csrf_failed": (403, "Проверка CSRF не пройдена: обновите страницу и повторите"),
    "version_conflict": (409, "Слот уже изменён другим администратором: обновите страницу"),
    "conflict": (409, "Запрос не подходит к текущим настройкам"),
    "throttled": (429, "Слишком много неудачных попыток входа: повторите через 15 минут"),
    "admin_not_configured": (503, "Вход администраторов не настроен: проверьте файл учётных записей"),
    "slot_not_found": (404, "Слот не найден"),
    "slot_inactive": (404, "Слот отключён администратором"),
    "not_found": (404, "Не найдено"),
    "job_not_found": (404, "Задача не найдена или срок её хранения истёк"),
    "result_not_found": (404, "Результат не найден"),
    "method_not_allowed": (405, "Метод не поддерживается"),
    "body_timeout": (408, "Клиент перестал передавать файл: запрос прерван"),
    "result_expired": (410, "Срок хранения результата истёк"),
    "media_expired": (410, "Срок действия ссылки истёк"),
    "payload_too_large": (413, "Файл слишком большой"),
    "image_too_large": (413, "Фото слишком большое по числу пикселей"),
    "unsupported_media_type": (415, "Формат файла не поддерживается: нужен JPEG, PNG или WEBP"),
    "slot_busy": (429, "Слот занят: слишком много одновременных обработок, повторите позже"),
    "provider_busy": (429, "Провайдер занят: слишком много одновременных обработок, повторите позже"),
    "too_many_requests": (429, "Слишком много запросов, повторите позже"),
    "too_many_uploads": (429, "Слишком много одновременных загрузок с этого адреса, повторите позже"),
    "bad_response": (502, "Провайдер не вернул изображение"),
    "blocked": (502, "Провайдер отклонил запрос по правилам модерации"),
    "not_configured": (503, "Провайдер не настроен"),
    "quota": (503, "Исчерпана квота провайдера"),
    "uploads_busy": (503, "Сервер принимает слишком много загрузок одновременно, повторите позже"),
    "database_unavailable": (503, "База данных временно недоступна, повторите позже"),
    "storage_unavailable": (503, "Хранилище фотографий временно недоступно, повторите позже"),
    "storage_full": (507, "На сервере закончилось место для фотографий: сообщите администратору"),
    "provider_5xx": (503, "Провайдер временно недоступен"),
    "network": (503, "Нет связи с провайдером"),
    "provider_unavailable": (
        503,
        "Провайдер временно недоступен: после нескольких сбоев подряд запросы к нему приостановлены",
    ),
    "timeout": (504, "Обработка не уложилась в отведённое время"),
    # 409: the prompt is well-formed; the slot's current provider is what refuses it
    "prompt_not_supported": (
        409,
        "Провайдер слота не умеет создавать изображение по одному промпту: нужен слот text-to-image",
    ),
    "bad_zip": (400, "Файл не является ZIP-архивом или повреждён"),
    "zip_bomb": (413, "Архив распаковывается в слишком большой объём: похоже на ZIP-бомбу"),
    "zip_too_large": (413, "В архиве слишком много файлов или данных"),
    "zip_unsafe_name": (400, "В архиве есть файл с недопустимым именем (путь наружу или абсолютный путь)"),
    "zip_nested": (400, "Вложенные архивы не принимаются"),
    "zip_not_image": (415, "В архиве есть файл, который не является фото JPEG, PNG или WEBP"),
    "zip_empty": (400, "В архиве нет ни одного фото"),
    "internal": (500, "Внутренняя ошибка сервера"),
}


class StorageUnavailable(Exception):
    """The media store (an S3 bucket) cannot be reached or refused the operation: 503, never 500."""


class ApiError(Exception):
    """An error answered as ``{"status":"error","failure_reason",...}``."""

    def __init__(
        self,
        reason: str,
        message: str | None = None,
        *,
        status: int | None = None,
        job_id: str | None = None,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        default_status, default_message = REASONS.get(reason, (500, REASONS["internal"][1]))
        super().__init__(message or default_message)
        self.reason = reason
        self.status = status or default_status
        self.message = message or default_message
        self.job_id = job_id
        self.retry_after = retry_after
        self.extra = extra or {}

    def to_response(self) -> Response:
        body: dict[str, Any] = {
            "status": "error",
            "failure_reason": self.reason,
            "message": self.message,
        }
        if self.job_id:
            body["job_id"] = self.job_id
        body.update(self.extra)
        resp = jsonify(body)
        resp.status_code = self.status
        resp.headers["Cache-Control"] = "no-store"
        if self.retry_after is not None:
            resp.headers["Retry-After"] = str(self.retry_after)
        return resp


#: Seconds a client is asked to wait after a database or disk failure.
RETRY_AFTER_UNAVAILABLE = 5
#: Database errors that mean "not reachable now", not "this request is wrong":
#: a refused or dropped connection, a lock held too long, an exhausted pool.
DATABASE_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
)
#: OS errors of a full disk (or an exhausted quota).
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the disk or quota is full."""
    seen: BaseException | None = exc
    for _ in range(4):  # wrapped once or twice at most (e.g. by the multipart parser)
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in _DISK_FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_HTTP_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def wants_json() -> bool:
    """JSON for the API, ingest and public download paths; HTML pages elsewhere."""
    path = request.path
    if path.startswith(("/api/", "/ingest/", "/public/results/", "/public/provider-media/")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def register_error_handlers(app: Flask) -> None:
    """Answer every error on JSON paths with the documented body."""
    from photochanger.extensions import db

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        db.session.rollback()
        _log.info(
            "request.rejected",
            extra={
                "event": "request.rejected",
                "failure_reason": exc.reason,
                "status": exc.status,
                "path": request.path,
                "job_id": exc.job_id,
            },
        )
        return exc.to_response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if not wants_json():
            if code < 400 or exc.response is not None:
                return exc  # redirects and ready-made responses pass through
            return _html_error(code, exc)
        reason = _HTTP_REASONS.get(code, "internal")
        message = REASONS[reason][1]
        if code == 413:
            message = _too_large_message(app.config)
        retry_after = _retry_after(exc) if code == 429 else None
        resp = ApiError(reason, message, status=code, retry_after=retry_after).to_response()
        _keep_headers(resp, exc)
        return resp

    def _database_down(exc: Exception) -> Any:
        quiet_rollback()
        app.logger.error(
            "database unavailable: %s",
            type(exc).__name__,
            extra={"event": "database.unavailable", "path": request.path},
            exc_info=exc,
        )
        return _unavailable("database_unavailable", 503)

    for error_class in DATABASE_DOWN:
        app.register_error_handler(error_class, _database_down)

    @app.errorhandler(StorageUnavailable)
    def _storage_down(exc: StorageUnavailable) -> Any:
        quiet_rollback()
        app.logger.error(
            "media storage unavailable: %s",
            exc,
            extra={"event": "storage.unavailable", "path": request.path},
        )
        return _unavailable("storage_unavailable", 503)

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception) -> Any:
        if is_disk_full(exc):
            quiet_rollback()
            app.logger.error(
                "media disk full", extra={"event": "storage.full", "path": request.path}, exc_info=exc
            )
            return _unavailable("storage_full", 507)
        db.session.rollback()
        app.logger.exception("unhandled error", extra={"event": "error.unhandled"})
        if not wants_json():
            return _html_error(500, None)
        return ApiError("internal").to_response()


def quiet_rollback() -> None:
    """Roll back, ignoring the failure a broken connection gives the rollback too."""
    from photochanger.extensions import db

    with contextlib.suppress(Exception):  # the connection is already known to be bad
        db.session.rollback()


def _unavailable(reason: str, status: int) -> Response:
    """The JSON error (or the HTML page) of a server-side outage, with ``Retry-After``."""
    if wants_json():
        return ApiError(reason, retry_after=RETRY_AFTER_UNAVAILABLE).to_response()
    resp = _html_error(status, None, _HTML_OUTAGES.get(reason))
    resp.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    return resp


def _retry_after(exc: HTTPException) -> int:
    """Seconds to wait: the window of the limit hit (Flask-Limiter's exception carries it), else 60."""
    item = getattr(getattr(exc, "limit", None), "limit", None)
    expiry = getattr(item, "get_expiry", None)
    return int(expiry()) if callable(expiry) else 60


def _too_large_message(config: Mapping[str, Any]) -> str:
    """The whole body over the cap, or (within it) a text field or part count over Werkzeug's form limits."""
    limit = config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is not None and length <= limit:
        field_kb = (config.get("MAX_FORM_MEMORY_SIZE") or 500_000) // 1024
        parts = config.get("MAX_FORM_PARTS") or 1000
        return f"Форма слишком большая: текстовое поле длиннее {field_kb} КБ или частей больше {parts}"
    return f"Файл слишком большой: предел {limit // (1024 * 1024)} МБ"


#: Browser pages for HTTP errors outside the JSON paths: (title, text).
_HTML_ERRORS = {
    404: ("Страница не найдена", "Такой страницы нет. Проверьте адрес или откройте ссылку ещё раз."),
    405: ("Действие недоступно", "Этот адрес не принимает такой запрос."),
    413: ("Файл слишком большой", "Уменьшите файл и попробуйте ещё раз."),
    429: ("Слишком много запросов", "Подождите немного и попробуйте снова."),
    500: ("Внутренняя ошибка сервера", "Что-то пошло не так. Попробуйте позже."),
    503: ("Сервер временно недоступен", "База данных не отвечает. Попробуйте через минуту."),
    507: ("Нет места на диске", "На сервере закончилось место. Сообщите администратору."),
}


#: Outages whose page says more than their status's page.
_HTML_OUTAGES = {
    "storage_unavailable": (
        "Сервер временно недоступен",
        "Хранилище фотографий не отвечает. Попробуйте через минуту.",
    ),
}


def _html_error(code: int, exc: HTTPException | None, page: tuple[str, str] | None = None) -> Response:
    """A Russian HTML page (the public layout) instead of Werkzeug's English one."""
    from flask import render_template

    title, text = page or _HTML_ERRORS.get(code, (REASONS[_HTTP_REASONS.get(code, "internal")][1], ""))
    resp = Response(
        render_template("public/message.html", status=code, title=title, text=text),
        status=code,
        mimetype="text/html",
    )
    if exc is not None:
        _keep_headers(resp, exc)
    return resp


def _keep_headers(resp: Response, exc: HTTPException) -> None:
    """Carry the exception's own headers over: a 405 must list the route's methods in ``Allow`` (RFC 9110)."""
    headers = dict(exc.get_headers())
    for name in ("Allow", "Retry-After"):
        if name in headers and name not in resp.headers:
            resp.headers[name] = headers[name]
