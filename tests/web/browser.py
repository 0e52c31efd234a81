"""What the browser tests need: Debian's Chromium and Playwright for Python. A module calls
``require_browser()`` first; without either, the module is skipped with the reason printed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "web"


def missing_browser() -> str | None:
    """Why the browser leg cannot run here (None when it can)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return f"browser leg skipped: {CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser leg skipped: Playwright for Python is missing (pip install -e '.[test]')"
    return None


def require_browser() -> None:
    reason = missing_browser()
    if reason:
        print(reason, file=sys.stderr)
        pytest.skip(reason, allow_module_level=True)


def chromium_path() -> str:
    return str(CHROMIUM) if CHROMIUM.exists() else str(shutil.which("chromium"))


def wait_until(page, condition, timeout_s: float = 30.0) -> None:
    """Polls ``condition()`` (Python, reading the page) until true. The console's content
    policy forbids eval, so Playwright's wait_for_function cannot run there."""
    for _ in range(int(timeout_s * 10)):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"condition not met within {timeout_s} s")


def screenshot(page, name: str) -> Path:
    """A full-page screenshot under test-output/web/; returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
