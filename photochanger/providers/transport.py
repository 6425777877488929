"""HTTP plumbing shared by the network drivers: budgeted calls and result checks.

Every call takes its timeouts from the :class:`CallContext` budget (a fixed
30 s timeout once turned slow generations into 502s), and transport failures
leave here only as typed :class:`ProviderError` values.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import requests

from photochanger.media.images import sniff_mime, verify_image
from photochanger.providers.base import (
    CallContext,
    FailureKind,
    ProviderDriver,
    ProviderError,
    ProviderJob,
    ProviderResult,
)

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
        key = job.api_key or self.config.default_api_key
        if not key:
            raise ProviderError(FailureKind.NOT_CONFIGURED, f"{self.name}: no API key configured")
        return key


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
            # requests reads a body in 10 KiB steps through urllib3 (~170 of them
            # for a 1.7 MB Gemini answer, 7 % of an ingest's CPU); with stream=True
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
