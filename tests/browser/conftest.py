"""Browser fixtures: admin credentials, a live gunicorn, headless Debian Chromium via Playwright."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from photochanger.auth.passwords import hash_password

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_USER = "admin"
ADMIN_PASSWORD = "studio-pass-42"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (never downloaded: Debian's package)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} not installed (make system-deps)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def admin_credentials(app_env: dict[str, str]) -> tuple[str, str]:
    """Writes the credentials file the server reads (docs/admin-auth.md format)."""
    path = Path(app_env["ADMIN_CREDENTIALS_FILE"])
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"admins": [{"username": ADMIN_USER, "password_hash": hash_password(ADMIN_PASSWORD, rounds=4)}]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return ADMIN_USER, ADMIN_PASSWORD


@pytest.fixture
def server(live_server: Callable[..., Any], admin_credentials: tuple[str, str]) -> Any:
    """gunicorn on the test database, with the admin account in place."""
    return live_server()


@pytest.fixture
def page(browser: Any, server: Any) -> Iterator[Any]:
    """A desktop-sized page in a fresh context (no cookies), Russian locale."""
    # Reduced motion, as the system setting asks: a smooth scroll still running when Playwright
    # presses and releases the mouse moves the button away in between, and the click is lost.
    context = browser.new_context(
        viewport=DESKTOP, locale="ru-RU", base_url=server.url, reduced_motion="reduce"
    )
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # The app's Content-Security-Policy must not block any of its own scripts, styles or images.
    pg.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    pg.on("request", lambda req: None if _local(req.url, server.url) else foreign.append(req.url))
    _log_api_calls(pg, server.url)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not foreign, f"pages must not load anything from the network: {foreign}"


def _local(url: str, base: str) -> bool:
    return url.startswith((base + "/", "data:", "blob:"))


def _log_api_calls(pg: Any, base: str) -> None:
    """Keep the page's ``/api/`` calls and how each ended, for :func:`toast` to report."""
    calls: list[list[str]] = []

    def sent(req: Any) -> None:
        if req.url.startswith(base + "/api/"):
            calls.append([req.method, req.url[len(base) :], "pending"])
            req._pc_call = calls[-1]  # the request object is the same one in the later events

    def ended(req: Any, how: str) -> None:
        call = getattr(req, "_pc_call", None)
        if call is not None:
            call[2] = how

    pg.on("request", sent)
    pg.on("requestfinished", lambda req: ended(req, str(req.response().status if req.response() else "?")))
    pg.on("requestfailed", lambda req: ended(req, f"failed: {req.failure}"))
    pg._pc_api_calls = calls
    # Presses, releases, clicks, submits and every toast shown, for the same report (init scripts skip CSP).
    pg.add_init_script(
        "window.__pcEvents = [];"
        "const note = (e) => window.__pcEvents.push(e.type + ' ' + (e.target.id || e.target.tagName)"
        " + (e.clientX !== undefined ? ' @' + e.clientX + ',' + e.clientY + ' y' + window.scrollY : ''));"
        "document.addEventListener('mousedown', note, true);"
        "document.addEventListener('mouseup', note, true);"
        "document.addEventListener('click', note, true);"
        "document.addEventListener('submit', note, true);"
        "new MutationObserver((ms) => ms.forEach((m) => m.addedNodes.forEach((n) => {"
        "  if (n.classList && n.classList.contains('toast')) window.__pcEvents.push('toast ' + n.innerText);"
        "}))).observe(document, {childList: true, subtree: true});"
    )


def toast(pg: Any, text: str, timeout: float = 15_000) -> Any:
    """Wait for a toast containing ``text``; on a timeout say what the page showed and sent instead."""
    shown = pg.locator(".toast", has_text=text).first
    try:
        shown.wait_for(timeout=timeout)
    except Exception as exc:  # Playwright's TimeoutError
        state = pg.evaluate(
            "({toasts: Array.from(document.querySelectorAll('.toast'), t => t.innerText),"
            " errors: Array.from(document.querySelectorAll('.has-error .field__error'), e => e.innerText),"
            " events: (window.__pcEvents || []).slice(-12)})"
        )
        calls = getattr(pg, "_pc_api_calls", [])[-8:]
        raise AssertionError(
            f"no toast with {text!r} in {timeout} ms; toasts: {state['toasts']};"
            f" field errors: {state['errors']}; last API calls: {calls}; last events: {state['events']}"
        ) from exc
    return shown


@pytest.fixture
def phone_page(browser: Any, server: Any) -> Iterator[Any]:
    """A phone-sized touch page."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="ru-RU",
        base_url=server.url,
        reduced_motion="reduce",
    )
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Any, str], None]:
    """Saves full-page screenshots: into $PHOTOCHANGER_SCREENSHOTS (docs/screenshots) when set."""
    for_docs = os.environ.get("PHOTOCHANGER_SCREENSHOTS")
    target = Path(for_docs or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)

    def take(pg: Any, name: str) -> None:
        # Full-page shots from the top, without transient toasts, once images are decoded.
        # Only the docs' pictures wait for the page to settle: no test reads the suite's own.
        if for_docs:
            pg.wait_for_timeout(700)  # smooth scrolling to a field error ends
        pg.evaluate(
            "document.querySelectorAll('.toast').forEach(t => t.remove());"
            "window.scrollTo({top: 0, behavior: 'instant'})"
        )
        wait_until(pg, "Array.from(document.images).every(i => i.complete)")
        if for_docs:
            pg.wait_for_timeout(150)
        pg.screenshot(path=str(target / f"{name}.png"), full_page=True)

    return take


def wait_until(pg: Any, expression: str, timeout: float = 15_000) -> None:
    """Poll ``expression`` until it is truthy.

    Not ``wait_for_function``: Playwright evaluates its predicate with ``eval``
    inside the page, which the app's CSP (no 'unsafe-eval') rightly refuses.
    """
    end = time.monotonic() + timeout / 1000
    guarded = f"(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"
    while not pg.evaluate(guarded):
        if time.monotonic() > end:
            raise AssertionError(f"still false after {timeout} ms: {expression}")
        pg.wait_for_timeout(50)


def login(pg: Any, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
    """Signs in through the login form and waits for the dashboard."""
    pg.goto("/admin/login")
    pg.fill("#username", username)
    pg.fill("#password", password)
    pg.click("#login-submit")
    pg.wait_for_url("**/admin/")
