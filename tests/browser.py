"""A real browser for tests: Debian's chromium driven by Playwright (the driver only; its
own browser download cannot work here), and a way to serve an app to it.

Browser tests are marked `browser` and take the `browser_page` fixture (import it, with
`chromium`, into the test module). Without /usr/bin/chromium or the playwright package
they skip, saying why; .ci/run installs chromium with apt-get and says so loudly when it
cannot. Pages get a fresh context each (cookies, storage): Playwright's launch already
gives the browser a fresh temporary user-data dir of its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser per test module (the sync Playwright API runs its own event loop, which
    must not outlive the module and meet pytest-asyncio's)."""
    if not CHROMIUM.exists():
        pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} is not installed "
                    "(apt-get install chromium; .ci/run does that)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="BROWSER TESTS SKIPPED: no playwright package")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    """A page in a fresh context, with JavaScript off: the hosted pages must work without it."""
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 720, "height": 600})
    yield context.new_page()
    context.close()


@contextmanager
def serve_in_thread(app: Quart, port: int | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` with Hypercorn on loopback `port` (a free one by default), in a thread
    with its own event loop (the sync Playwright API needs the test's thread); yields the
    base URL, naming the server by `host` (localhost where passkeys need a host name)."""
    port = port or free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(serve(app, config, shutdown_trigger=stop.wait),), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the app did not start serving") from None
            time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


class OtherOrigin(BaseHTTPRequestHandler):
    """Another origin: the app a form redirects to, or a site that frames our pages."""

    seen: list[str] = []
    frame_target = ""

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = (f'<iframe src="{self.frame_target}"></iframe>' if self.path == "/framer"
                else "<h1>landed</h1>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def other_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OtherOrigin)
    OtherOrigin.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
