"""A real uvicorn server on loopback and Debian's Chromium driven by Playwright: shared by the browser tests
(tests/server/test_page.py) and the page benchmark (bench/bench_page.py).

Playwright's own browsers are never installed: Chromium comes from the system (`apt-get install chromium`).
"""

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app, *, start_timeout_s: float = 20.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            msg = f"uvicorn did not start on port {config.port}"
            raise RuntimeError(msg)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium(profile: Path, *, viewport=(1280, 900)):
    """A headless Chromium context with a fresh user-data dir at `profile`.

    Every request leaving loopback is aborted and its URL appended to `context.outside`, so a page that
    tries to fetch from the internet is caught.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        context.outside = []

        def guard(route):
            url = route.request.url
            if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
                route.continue_()
            else:
                context.outside.append(url)
                route.abort()

        context.route("**/*", guard)
        try:
            yield context
        finally:
            context.close()
