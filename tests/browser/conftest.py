"""Fixtures for the browser tests: the built site served on loopback, and Chromium with the network cut off.

The site under test is ``_build/html`` (build it with ``make book``; ``make test`` builds it first), or the
folder named by the environment variable ``KL_BOOK_SITE``.

Every request the page makes to a host outside 127.0.0.0/8 is aborted and recorded in
``page.external_requests``; console errors and uncaught page errors go to ``page.console_errors``.
Chromium is Debian's ``/usr/bin/chromium`` (``KL_BOOK_CHROMIUM`` overrides): Playwright cannot download
its own browser here.
"""
from __future__ import annotations

import functools
import http.server
import ipaddress
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
]


def is_loopback(url: str) -> bool:
    """True for URLs that stay on this machine (127.0.0.0/8, ::1, localhost) or never leave the page."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome-error", "javascript"):
        return True
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session")
def site_dir() -> Path:
    site = Path(os.environ.get("KL_BOOK_SITE", ROOT / "_build" / "html"))
    if not (site / "index.html").exists():
        pytest.fail(f"No built site at {site}: run `make book` first (make test does).")
    return site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="session")
def site_url(site_dir: Path):
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("KL_BOOK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        if os.environ.get("KL_BOOK_PLAYWRIGHT_BROWSER") != "1":
            pytest.fail("Chromium not found: install Debian's chromium (apt-get install chromium); .ci/run does. "
                        "Where Playwright can download its own browser, run `playwright install chromium` and set "
                        "KL_BOOK_PLAYWRIGHT_BROWSER=1 instead.")
        executable = None  # Playwright's own browser (GitHub Actions)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def guarded_page(browser):
    """A page in a fresh context whose every non-loopback request is aborted and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    pg = context.new_page()
    # Generous: a long page (the API reference) takes a while to load and typeset on a busy 2-core machine.
    pg.set_default_timeout(float(os.environ.get("KL_BOOK_BROWSER_TIMEOUT", "600")) * 1000)
    pg.external_requests = []
    pg.console_errors = []

    def guard(route):
        url = route.request.url
        if is_loopback(url):
            route.continue_()
        else:
            pg.external_requests.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    pg.inflight = set()
    pg.on("request", lambda r: pg.inflight.add(r))
    pg.on("requestfinished", lambda r: pg.inflight.discard(r))
    pg.on("requestfailed", lambda r: pg.inflight.discard(r))
    pg.wait_until_quiet = functools.partial(wait_until_quiet, pg)
    pg.on("console", lambda msg: pg.console_errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: pg.console_errors.append(f"uncaught: {exc}"))
    return pg


@pytest.fixture()
def page(browser):
    """A fresh page whose every non-loopback request is aborted and recorded."""
    pg = guarded_page(browser)
    yield pg
    pg.context.close()


def use_mode(page, mode: str) -> None:
    """Open pages in the theme's light or dark mode (pydata-sphinx-theme reads localStorage 'mode')."""
    page.add_init_script(f"try {{ localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}'); }}"
                         " catch (e) {}")


def settle(page) -> None:
    """Wait until MathJax has typeset the page, the widgets have drawn and no request is in flight."""
    page.wait_for_function(
        "() => !window.MathJax || !MathJax.startup || !MathJax.startup.promise"
        " || MathJax.startup.promise.then(() => true)")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.kl-widget')].every(w => w.childElementCount > 0)")
    page.wait_until_quiet()


def pytest_collection_modifyitems(items):
    """Group the tests that share a page: with ``pytest -n 2 --dist loadgroup`` (make test-site) the tests of one page
    run on the same worker, one after the other, so that ``loaded_page`` loads it once for all of them. A test
    parametrized by ``rel`` or ``path`` is grouped by that page; the others say their page with an explicit
    ``@pytest.mark.xdist_group("book/<page>.html")``."""
    for item in items:
        params = getattr(item, "callspec", None) and item.callspec.params or {}
        rel = params.get("rel") or params.get("path")
        if "loaded_page" in item.fixturenames and rel and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(rel.strip("/")))
    # Without xdist too: the tests of one page run one after the other (where the first of them stands), axe last:
    # axe fetches stylesheets for its own checks (a 404 on /basic.css shows in the console), which are no part of
    # the page the other checks look at.
    first, keys = {}, []
    for i, item in enumerate(items):
        mark = item.get_closest_marker("xdist_group")
        axe = item.originalname.startswith("test_axe")
        keys.append((first.setdefault(mark.args[0], i) if mark else i, axe, i))
    items[:] = [item for _, item in sorted(zip(keys, items), key=lambda pair: pair[0])]


@pytest.fixture(scope="session")
def loaded_page(browser, site_url):
    """``loaded_page(rel, mode="light")``: the page, loaded in the theme's mode, typeset and quiet, shared by the
    tests that only read it (axe, the offline checks, alt texts, contrast, links), instead of one load each.

    The page keeps recording from its load on (``external_requests``, ``console_errors``); ``response`` is the
    HTTP response of its load. The last two pages loaded on this worker stay open (a page's light and dark
    mode): the tests of one page are grouped onto one worker by ``pytest_collection_modifyitems``.
    """
    from collections import OrderedDict

    cache = OrderedDict()

    def get(rel: str, mode: str = "light"):
        key = (rel.strip("/"), mode)
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        while len(cache) >= 2:
            cache.popitem(last=False)[1].context.close()
        pg = guarded_page(browser)
        use_mode(pg, mode)
        pg.response = pg.goto(f"{site_url}/{key[0]}", wait_until="load")
        settle(pg)
        cache[key] = pg
        return pg

    yield get
    for pg in cache.values():
        pg.context.close()


def wait_until_quiet(page, quiet_ms: int = 500, timeout_s: float | None = None) -> None:
    """Wait until no request of the page has been in flight for ``quiet_ms``.

    Playwright's own ``wait_for_load_state("networkidle")`` never resolved on the API reference page (about 700 kB
    of HTML, 500 formulas) in Chromium 156, although every request had finished (checked with the DevTools
    protocol); this waits on the requests the page fixture records instead.
    """
    import time

    timeout_s = float(os.environ.get("KL_BOOK_BROWSER_TIMEOUT", "600")) if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if page.inflight:
            quiet_since = time.monotonic()
        elif (time.monotonic() - quiet_since) * 1000 >= quiet_ms:
            return
        page.wait_for_timeout(100)
    pending = sorted(r.url for r in page.inflight)[:5]
    raise AssertionError(f"requests still in flight after {timeout_s:.0f} s: {pending}")

