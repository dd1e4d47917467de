"""Headless Chromium for the admin pages' end-to-end tests: Debian's ``chromium`` driven by Playwright.

Playwright's Python package brings its own driver but we never download its browsers: it
launches ``/usr/bin/chromium`` (``executable_path``) with a fresh profile in the test's
directory. Without the background-networking flags Chromium tries to reach Google's services,
and this machine's closed network refuses those connections; ``--no-sandbox`` because the tests
may run as root.

- ``require_browser()``: the Chromium path; skips the test (fails it when ``CI`` is set) when
  Chromium or Playwright is missing.
- ``chromium(profile)``: a browser context (context manager), closed with its process.
- ``PageProblems``: the page's uncaught exceptions and console errors, to assert none.
- ``open_page(browser, url, *ready)``, ``wait_shown(page, selector, problems)``: a page once
  it shows what is asked, and a wait that fails with the page's errors and text.
- ``artifacts_dir(name)``: where screenshots are kept (``PBX_TEST_ARTIFACTS``, by default
  ``var/test-artifacts/`` in the project).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .harness import REPO_ROOT

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TV = {"width": 1920, "height": 1080}


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_browser() -> str:
    path = shutil.which("chromium")
    if path is None:
        _missing("chromium not found on PATH; install it with: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed; install it with: pip install playwright (its browsers are not needed)")
    return path


@contextmanager
def chromium(profile: Path, viewport: dict[str, int] = TV) -> Iterator[Any]:
    """A Playwright BrowserContext of a headless Chromium with its profile in ``profile``."""
    from playwright.sync_api import sync_playwright

    executable = require_browser()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_FLAGS, viewport=viewport)
        try:
            yield context
        finally:
            context.close()


@dataclass
class PageProblems:
    """What went wrong in a page: uncaught exceptions ('pageerror') and console errors."""

    errors: list[str] = field(default_factory=list)

    @classmethod
    def watch(cls, page: Any) -> PageProblems:
        problems = cls()
        page.on("pageerror", lambda error: problems.errors.append(f"uncaught: {error}"))
        page.on("console", lambda message: message.type == "error"
                and problems.errors.append(f"console: {message.text} ({message.location.get('url', '')})"))
        return problems


def artifacts_dir(name: str) -> Path:
    """A directory for one test's artifacts, emptied of an earlier run's."""
    base = Path(os.environ.get("PBX_TEST_ARTIFACTS") or REPO_ROOT / "var" / "test-artifacts")
    directory = base / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def wait_shown(page: Any, selector: str, problems: PageProblems, *, timeout: float = 3.0,
               state: str = "visible") -> None:
    """``page.wait_for_selector`` that, when it times out, fails with the page's errors and text."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, timeout=timeout * 1000, state=state)
    except PlaywrightTimeout:
        text = page.inner_text("body")[:2000]
        pytest.fail(f"{selector} not {state} within {timeout}s on {page.url}\npage errors: {problems.errors}\n"
                    f"page text:\n{text}")


def open_page(browser: Any, url: str, *ready: str, timeout: float = 5.0) -> tuple[Any, PageProblems]:
    """A new page at ``url``, watched for problems, once every ``ready`` selector is shown."""
    page = browser.new_page()
    problems = PageProblems.watch(page)
    page.goto(url)
    for selector in ready:
        wait_shown(page, selector, problems, timeout=timeout)
    return page, problems
