"""HTTP plumbing shared by the network drivers: budgeted calls and result checks.

Every call takes its timeouts from the :class:`CallContext` budget (a fixed
30 s timeout once turned slow generations into 502s), and transport failures
leave here only as typed :class:`ProviderError` values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import requests

from photochanger.media.images import downscale, sniff_mime, verify_image
from photochanger.providers.base import (
    CallContext,
    FailureKind,
    ImageInput,
    ProviderDriver,
    ProviderError,
    ProviderJob,
    ProviderResult,
)

T = TypeVar("T")

#: Below this many seconds left a reset connection is not retried: the second
#: attempt could not finish anyway and would only turn NETWORK into TIMEOUT.
RESET_RETRY_MIN_LEFT = 2.0
#: A requests timeout with more than this left was a connect/read stall, not
#: the deadline: report it as a (retryable) network failure.
DEADLINE_SLACK = 0.5
#: Default cap on a provider answer (``DriverConfig.max_answer_bytes`` per deployment).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Read size for answers without a Content-Length.
_CHUNK = 1024 * 1024


class HttpDriver(ProviderDriver):
    """Base of drivers that call a remote API: configurable base URL, key lookup."""

    needs_api_key = True
    #: used when ``DriverConfig.base_url`` (``{NAME}_API_BASE``) is empty
    default_base_url: ClassVar[str]

    @property
    def base_url(self) -> str:
        return (self.config.base_url or self.default_base_url).rstrip("/")

    def api_key(self, job: ProviderJob) -> str:
        """The key saved in the settings (``job.api_key``) wins over the environment default."""
        key = self.optional_api_key(job)
        if not key:
            raise ProviderError(FailureKind.NOT_CONFIGURED, f"{self.name}: no API key configured")
        return key

    def optional_api_key(self, job: ProviderJob) -> str | None:
        """The key to send if there is one (drivers with :attr:`key_optional`)."""
        return job.api_key or self.config.default_api_key or None


def shrunk(image: ImageInput, max_side: int, min_side: int, where: str) -> tuple[bytes, str]:
    """``(data, mime)`` of ``image`` shrunk into ``[min_side, max_side]`` (unchanged when it fits)."""
    try:
        return downscale(image.data, image.mime, max_side, min_side)
    except OSError as exc:  # Pillow cannot read it: the slot's template is broken
        raise ProviderError(
            FailureKind.NOT_CONFIGURED, f"{where}: {image.role} image is unreadable: {exc}"
        ) from exc


def shrink_inputs(job: ProviderJob, max_side: int, min_side: int, where: str) -> ProviderJob:
    """``job`` with the photo and templates shrunk by :func:`shrunk` (a driver's ``prepare``)."""

    def one(image: ImageInput) -> ImageInput:
        data, mime = shrunk(image, max_side, min_side, where)
        return image if data is image.data else dataclasses.replace(image, data=data, mime=mime)

    photo = None if job.photo is None else one(job.photo)
    return dataclasses.replace(job, photo=photo, templates=tuple(one(t) for t in job.templates))


def public_url(image: ImageInput, where: str) -> str:
    """The short-lived public link of an input (drivers with ``input_urls``)."""
    if not image.url:
        raise ProviderError(FailureKind.NOT_CONFIGURED, f"{where}: no public URL for the {image.role} image")
    return image.url


def as_dict(value: Any) -> dict[str, Any]:
    """Provider JSON is untrusted: anything that is not an object reads as empty."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_reset(exc: BaseException) -> bool:
    """True when the peer dropped the connection (``RemoteDisconnected`` is a reset too)."""
    pending: list[BaseException] = [exc]
    for _ in range(8):  # requests nests urllib3 errors a few levels deep
        if not pending:
            return False
        err = pending.pop()
        if isinstance(err, (ConnectionResetError, BrokenPipeError)):
            return True
        pending.extend(a for a in err.args if isinstance(a, BaseException))
        if err.__cause__ is not None:
            pending.append(err.__cause__)
    return False


def send(
    ctx: CallContext, method: str, url: str, *, max_bytes: int = MAX_ANSWER_BYTES, **kwargs: Any
) -> requests.Response:
    """One HTTP request within the budget, its answer read up to ``max_bytes``.

    A connection reset (typically a pooled keep-alive connection the server had
    already closed) is retried once when enough time is left (DESIGN §2); any
    other retry is the ingest service's decision.
    """
    for attempt in (1, 2):
        ctx.check_time()
        try:
            resp = ctx.session.request(method, url, timeout=ctx.http_timeout(), stream=True, **kwargs)
            resp._content = _read_capped(resp, max_bytes, f"{method} {url}")
            return resp
        except requests.Timeout as exc:
            if ctx.time_left() > DEADLINE_SLACK:
                raise ProviderError(
                    FailureKind.NETWORK,
                    f"{method} {url}: stalled: {exc}",
                    retryable=True,
                ) from exc
            raise ProviderError(FailureKind.TIMEOUT, f"{method} {url}: deadline reached") from exc
        except requests.ConnectionError as exc:
            if attempt == 1 and _is_reset(exc) and ctx.time_left() > RESET_RETRY_MIN_LEFT:
                continue
            raise ProviderError(
                FailureKind.NETWORK,
                f"{method} {url}: connection failed: {exc}",
                retryable=True,
            ) from exc
        except requests.RequestException as exc:  # e.g. a body cut off mid-transfer
            raise ProviderError(FailureKind.NETWORK, f"{method} {url}: {exc}", retryable=True) from exc
    raise AssertionError("unreachable")


def _read_capped(resp: requests.Response, max_bytes: int, what: str) -> bytes:
    """The whole body, or a non-retryable BAD_RESPONSE once it passes ``max_bytes``."""
    declared = resp.headers.get("Content-Length", "")
    if not (declared.isdigit() and int(declared) > max_bytes):
        if declared.isdigit() and not resp.headers.get("Content-Encoding"):
            # requests reads a body in 10 KiB steps through urllib3 (a visible share
            # of an ingest's CPU for a megabyte-sized answer); with stream=True
            # and no chunk size, urllib3 reads it in one call, never past the
            # declared length. Read errors map to the same requests exceptions.
            return b"".join(resp.iter_content(None))
        # Chunked, close-delimited or compressed: counted as it is decoded.
        body = bytearray()
        for chunk in resp.iter_content(_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                break
        else:
            return bytes(body)
    resp.close()
    raise ProviderError(FailureKind.BAD_RESPONSE, f"{what}: answer larger than {max_bytes} bytes")


_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def parse_seconds(value: Any) -> float | None:
    """``"26s"`` / ``"26.5s"`` (protobuf Duration JSON) or ``"26"`` (Retry-After) → seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and (match := _SECONDS.match(value)):
        return float(match.group(1))
    return None


def checked_image(data: bytes, where: str) -> ProviderResult:
    """Accept provider output only if it really is a JPEG/PNG/WEBP; the bytes decide the MIME.

    A broken image is treated as a retryable bad answer: another attempt
    usually returns a good one.
    """
    mime = sniff_mime(data[:16])
    if mime is None or verify_image(data) != mime:
        raise ProviderError(
            FailureKind.BAD_RESPONSE,
            f"{where}: result is not a valid image",
            retryable=True,
        )
    return ProviderResult(data, mime)


#: Transient failures tolerated while polling: the queued job is already paid for.
MAX_POLL_FAILURES = 3


def json_of(resp: requests.Response, where: str) -> Any:
    """The JSON body of a 2xx answer; a non-JSON one is a retryable bad answer."""
    try:
        return resp.json()
    except ValueError as exc:
        raise ProviderError(
            FailureKind.BAD_RESPONSE,
            f"{where}: HTTP {resp.status_code} with a non-JSON body",
            retryable=True,
        ) from exc


def error_body(resp: requests.Response) -> dict[str, Any]:
    """The JSON object of an error answer; ``{}`` when its body is not one."""
    try:
        return as_dict(resp.json())
    except ValueError:
        return {}


def status_failure(resp: requests.Response, where: str, detail: str = "") -> ProviderError:
    """The plain HTTP mapping: 401/403 key rejected, 429 quota, 5xx transient, other 4xx bad request."""
    status = resp.status_code
    what = f"{where}: HTTP {status}: {detail or resp.text[:200]}"
    if status in (401, 403):
        return ProviderError(FailureKind.NOT_CONFIGURED, what)
    if status == 429:
        return ProviderError(
            FailureKind.QUOTA,
            what,
            retryable=True,
            retry_after=parse_seconds(resp.headers.get("Retry-After")),
        )
    if status >= 500:
        return ProviderError(FailureKind.PROVIDER_5XX, what, retryable=True)
    return ProviderError(FailureKind.BAD_RESPONSE, what)


def download(
    ctx: CallContext,
    url: str,
    where: str,
    headers: dict[str, str] | None = None,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> ProviderResult:
    """GET a result image by URL; a failed download is retryable (the next attempt makes a new one)."""
    resp = send(ctx, "GET", url, headers=headers or {}, max_bytes=max_bytes)
    if resp.status_code != 200:
        raise ProviderError(
            FailureKind.BAD_RESPONSE if resp.status_code < 500 else FailureKind.PROVIDER_5XX,
            f"{where}: result download answered HTTP {resp.status_code}",
            retryable=True,
        )
    return checked_image(resp.content, where)


def poll(ctx: CallContext, interval: float, probe: Callable[[], T | None]) -> T:
    """Call ``probe`` every ``interval`` seconds until it returns a value, within the deadline.

    Sleeps through ``ctx.sleep`` (gevent-friendly) and never past the deadline;
    up to :data:`MAX_POLL_FAILURES` retryable failures in a row are tolerated.
    """
    failures = 0
    while True:
        ctx.sleep(min(interval, ctx.time_left()))
        ctx.check_time()
        try:
            found = probe()
        except ProviderError as exc:
            failures += 1
            if not exc.retryable or failures >= MAX_POLL_FAILURES:
                raise
            continue
        failures = 0
        if found is not None:
            return found
