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


def node_only_context(launched: Any, node_url: str, *, schemes: tuple[str, ...] = ("data:",),
                      **options: Any) -> tuple[Any, list[str]]:
    """A browser context that may reach the node at `node_url` (and URLs of `schemes`) and
    nothing else: no CDN, no internet. Returns it and the list of the other URLs it tried."""
    from urllib.parse import urlsplit

    context = launched.new_context(**options)
    origin = urlsplit(node_url).netloc
    elsewhere: list[str] = []

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).netloc == origin or route.request.url.startswith(schemes):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return context, elsewhere


# How long a console page may take to answer in the tests (a deadline, not a measurement).
PAGE_WAIT_MS = 30_000


class ConsoleVisit:
    """The console of the node at `url` in a context that reaches only the node, signed in
    with `token` by the session cookie (POST /web/session from the page); `requests` are
    the requests the page made."""

    page_id = ""  # the page `show` waits for (body[data-page=…][data-state=done])

    def __init__(self, launched: Any, url: str, token: str, *, schemes: tuple[str, ...] = ("data:",)) -> None:
        self.url = url
        self.context, self.elsewhere = node_only_context(launched, url, schemes=schemes,
                                                         viewport={"width": 1280, "height": 900})
        self.requests: list[Any] = []
        self.page = self.context.new_page()
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.goto(url + "/")
        self.page.wait_for_selector("body[data-console=ready]", timeout=PAGE_WAIT_MS)
        status = self.page.evaluate(
            """async (token) => (await fetch("/web/session", {method: "POST", credentials: "same-origin",
                 headers: {"Content-Type": "application/json"}, body: JSON.stringify({token})})).status""", token)
        assert status in (200, 201), status

    def show(self, hash_: str) -> Any:
        self.page.goto(f"{self.url}/#{hash_}")
        self.page.reload()  # the shell reads the session cookie the sign-in set
        self.page.wait_for_selector(f"body[data-page={self.page_id}][data-state=done]", timeout=PAGE_WAIT_MS)
        return self.page

    def close(self) -> None:
        self.context.close()
        assert self.elsewhere == [], self.elsewhere
