"""The console's shell on a live dev node (node/web/static/js/console.js): it loads with no
error in chromium and fetches only from the node, its nav lists the pages the session may
see, an unknown page falls back to Verify, the language switch redraws the nav in Chinese
and English, and every page module and style sheet the shell names is served."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from node.web.pages import PAGE_MODULES, PAGE_STYLES, STATIC_PREFIX
from tests.integration.nodeproc import NodeProcess
from tests.unit.web.browser import browser, node_only_context, screenshot

pytestmark = pytest.mark.slow


def test_every_page_module_and_style_the_shell_names_is_served(dev_node: NodeProcess) -> None:
    html = httpx.get(dev_node.url + "/").text
    for name in ("console.js", *PAGE_MODULES):
        assert f'src="{STATIC_PREFIX}/js/{name}"' in html
        assert httpx.get(f"{dev_node.url}{STATIC_PREFIX}/js/{name}").status_code == 200, name
    for name in PAGE_STYLES:
        assert f'href="{STATIC_PREFIX}/css/{name}"' in html
        assert httpx.get(f"{dev_node.url}{STATIC_PREFIX}/css/{name}").status_code == 200, name


def test_the_shell_routes_and_switches_language_with_no_error(dev_node: NodeProcess, tmp_path: Path) -> None:
    with browser() as launched:
        context, elsewhere = node_only_context(launched, dev_node.url)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(dev_node.url + "/#no-such-page")
        page.wait_for_selector("body[data-console=ready]")
        assert page.is_visible("#verify") and not page.is_visible("#view")
        page.keyboard.press("Tab")  # the skip link comes first, then the nav
        assert page.evaluate("document.activeElement.className") == "skip"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#verify"
        # The dev node's session is the anonymous ADMIN: the nav lists every page.
        nav = page.locator("#nav a")
        # Verify and every page; Sign in too: a token presented to a dev node still sets its role.
        assert nav.count() == 1 + len(PAGE_MODULES)
        english = page.inner_text("#nav")
        page.click("#lang")
        chinese = page.inner_text("#nav")
        assert english != chinese and "核验存证" in chinese
        screenshot(page, "shell-dev", tmp_path)
        page.click("#lang")
        context.close()
    assert errors == [] and elsewhere == []
