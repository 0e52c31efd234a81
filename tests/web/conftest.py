"""The demo day (``demo_day`` of tests/conftest.py, built once into a temporary folder), the
API and console served on it by uvicorn on a free port, and Chromium (the system's, driven by
Playwright) to look at it.

The server runs in its own process: the application reads process-wide settings
(``CDW_DATABASE_URL``, ``CDW_DATA_DIR``), and the rest of the suite keeps its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.web.browser import chromium_path, missing_browser

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DemoSite:
    url: str
    workdir: Path
    password: str

    def token(self, username: str) -> str:
        answer = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": username, "password": self.password},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def api(self, username: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.token(username)}"},
            timeout=60,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def demo_site(request: pytest.FixtureRequest) -> Iterator[DemoSite]:
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    from cdw.cli.demo import demo_environment
    from cdw.demo import DEFAULT_BUNDLE, DEMO_PASSWORD, bundle_road_network

    workdir = request.getfixturevalue("demo_day").workdir  # built after the browser check
    port = _free_port()
    env = {**os.environ, **demo_environment(workdir, bundle_road_network(DEFAULT_BUNDLE))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = (workdir / "uvicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cdw.api.app:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {(workdir / 'uvicorn.log').read_text()}")
            try:
                if httpx.get(f"{url}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer within 180 s")
            time.sleep(0.5)
        yield DemoSite(url=url, workdir=workdir, password=DEMO_PASSWORD)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def browser(demo_site: DemoSite):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page_for(browser, demo_site: DemoSite):
    """``page_for(viewport=(w, h))``: a fresh page (own storage) on the console; closed after."""
    contexts = []

    def make(viewport: tuple[int, int] = (1366, 860), lang: str = "zh"):
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            locale="zh-CN",
            has_touch=viewport[0] < 600,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        if lang == "en":
            page.add_init_script("localStorage.setItem('cdw.lang', 'en')")
        page.goto(demo_site.url + "/")
        return page

    yield make
    for context in contexts:
        context.close()


def log_in(page, username: str, password: str) -> None:
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#role-label")
