"""URLs the server hands out: built from the route table, absolute ones on the public base URL."""

from __future__ import annotations

from typing import Any

from flask import current_app, request


def public_base_url() -> str:
    """``PUBLIC_BASE_URL`` when configured, else the URL the request came in on."""
    return current_app.config.get("PUBLIC_BASE_URL") or request.host_url


def path_for(endpoint: str, **values: Any) -> str:
    """The path of ``endpoint`` (unknown values become the query string).

    Unlike ``url_for`` it needs only the app, so background greenlets can build links too.
    """
    return str(current_app.url_map.bind("localhost").build(endpoint, values))


def public_url(base_url: str, endpoint: str, **values: Any) -> str:
    """``endpoint``'s absolute URL on ``base_url`` (what booths, guests and providers open)."""
    return base_url.rstrip("/") + path_for(endpoint, **values)


def result_url(base_url: str, job_id: str) -> str:
    """A result's public download link (``X-Result-Url``)."""
    return public_url(base_url, "public.download_result", job_id=job_id)


def result_page_url(base_url: str, job_id: str) -> str:
    """A result's phone page (the link in the QR code printed on the photo)."""
    return public_url(base_url, "public_gallery.result_view", job_id=job_id)


def provider_media_url(base_url: str, media_id: str) -> str:
    """A short-lived input link for providers that fetch their inputs."""
    return public_url(base_url, "public.provider_media", media_id=media_id)
