"""The real browser the web tests drive: Debian's chromium through Playwright for Python,
never a browser Playwright downloads. Tests skip, saying why, where there is none."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Debian's package (apt-get install chromium); .ci/run installs it when it runs as root.
CHROMIUM = "/usr/bin/chromium"


def chromium_or_skip() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright (the test extra) is not installed: no browser tests")
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if path is None:
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium): no browser tests")
    return path


@contextmanager
def browser() -> Iterator[Any]:
    """A headless chromium; the caller makes its contexts and pages."""
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def offline_context(launched: Any) -> tuple[Any, list[str]]:
    """A context in which every request other than file: and data: is aborted and recorded."""
    context = launched.new_context()
    attempted: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            attempted.append(url)
            route.abort()

    context.route("**/*", guard)
    return context, attempted


@contextmanager
def offline_page_open(launched: Any, html: Any) -> Iterator[tuple[Any, list[str]]]:
    """The page at `html` (a path) opened from file:// in an offline context, ready to use;
    yields it and the requests it attempted (all refused)."""
    context, attempted = offline_context(launched)
    try:
        opened = context.new_page()
        opened.goto(html.as_uri())
        opened.wait_for_selector("body[data-ready=true]")
        yield opened, attempted
    finally:
        context.close()


# Where the console's screenshots are kept after a run, beside the test's own tmp_path copy:
# the issue asks for a screenshot of each page as a test artefact (git-ignored).
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Save a full-page screenshot as `name`.png in tmp_path and in test-artifacts/screenshots/."""
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOTS / shot.name)
    return shot
