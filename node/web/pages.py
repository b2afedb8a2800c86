"""The console's HTML, rendered from templates/shell.html: served by the node (assets by
URL, genesis fetched from the node) or self-contained for the offline verifier (every
script, style and the consortium's genesis.json inline, no network allowed by its CSP).

Pure: text in, text out. The JavaScript modules import each other and the vendored bundle
by bare names (`ledger/receipt.js`); an import map says where those are - URLs under
/web/static/ on the node, `data:` URLs inside the offline file - so both pages run the
same, unmodified verifier code.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

# Where the node serves the static assets and its genesis.json (node/web/routes.py).
STATIC_PREFIX = "/web/static"
GENESIS_PATH = "/web/genesis.json"
# The verifier's modules (static/js/), in no particular order: the import map names each.
MODULES = ("bytes.js", "json.js", "merkle.js", "mpt.js", "qbft.js", "genesis.js", "receipt.js", "timestamp.js", "certificate.js",
           "i18n.js", "lang.js", "page.js")
# The console's pages on the node (never in the offline file): console.js is the shell's
# router and toolkit, each page a module that registers itself with it, loaded in this
# order (the nav lists them so), with its own style sheet under static/css/ when it has one.
CONSOLE_MODULE = "console.js"
PAGE_MODULES: tuple[str, ...] = ("contracts.js", "supervision.js", "chain.js", "admin.js", "session.js")
PAGE_STYLES: tuple[str, ...] = ("contracts.css", "supervision.css", "chain.css", "admin.css", "session.css")
VENDOR_MODULES = ("crypto.js", "pdf.js", "asn1.js")
# A genesis.json is refused above this size when building the offline page: a
# consortium's is a few KB (the system contracts' code), and the page carries it inline.
MAX_GENESIS_BYTES = 4 * 1024 * 1024
ENTRY_MODULE = 'import "ledger/page.js";'


@dataclass(frozen=True)
class Page:
    """An HTML page and the Content-Security-Policy it is served with."""

    html: str
    csp: str


def static_text(*parts: str) -> str:
    return resources.files("node.web").joinpath("static", *parts).read_text(encoding="utf-8")


def _template() -> Template:
    return Template(resources.files("node.web").joinpath("templates", "shell.html").read_text(encoding="utf-8"))


def _script_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _json_for_script(value: Any) -> str:
    """JSON that cannot end the <script> element it sits in (no `<`, `>` or `&` in it)."""
    text = json.dumps(value, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def node_page() -> Page:
    """The console as the node serves it at `/`."""
    imports = {"ledger/": f"{STATIC_PREFIX}/js/", "ledger/vendor/": f"{STATIC_PREFIX}/vendor/"}
    importmap = json.dumps({"imports": imports})
    csp = ("default-src 'none'; script-src 'self' " + _script_hash(importmap) + "; style-src 'self'; "
           "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    styles = [f"{STATIC_PREFIX}/app.css", *(f"{STATIC_PREFIX}/css/{name}" for name in PAGE_STYLES)]
    scripts = ["page.js", CONSOLE_MODULE, *PAGE_MODULES]
    html = _template().substitute(
        csp="", mode="node", importmap=importmap, offline_note="", genesis="",
        who='<span id="who" aria-live="polite"></span>',
        view='<div id="view" hidden></div>',
        # An empty icon: a browser asks the node for /favicon.ico otherwise, on every page.
        style="\n".join(['<link rel="icon" href="data:,">', *(f'<link rel="stylesheet" href="{href}">' for href in styles)]),
        script="\n".join(f'<script type="module" src="{STATIC_PREFIX}/js/{name}"></script>' for name in scripts),
    )
    return Page(html, csp)


def offline_page(genesis_text: str) -> str:
    """One self-contained HTML file that verifies receipts of the chain `genesis_text`
    (genesis.json) starts, opened from a disk with the network off. Raises ValueError for
    a genesis that is not a JSON object or is larger than MAX_GENESIS_BYTES."""
    if len(genesis_text.encode("utf-8")) > MAX_GENESIS_BYTES:
        raise ValueError(f"genesis.json larger than {MAX_GENESIS_BYTES} bytes")
    document = json.loads(genesis_text)
    if not isinstance(document, dict):
        raise ValueError("genesis.json is not a JSON object")

    def data_url(text: str) -> str:
        return "data:text/javascript;base64," + base64.b64encode(text.encode("utf-8")).decode("ascii")

    imports = {f"ledger/{name}": data_url(static_text("js", name)) for name in MODULES}
    imports.update({f"ledger/vendor/{name}": data_url(static_text("vendor", name)) for name in VENDOR_MODULES})
    importmap = json.dumps({"imports": imports})
    # The genesis goes in as the bytes it was given (the verifier hashes what genesis.json
    # says, and reads it as the reference does), escaped only so it cannot close its element.
    genesis_json = genesis_text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # No connect-src, img-src from the network or form targets: the page can send nothing.
    csp = ("default-src 'none'; script-src " + _script_hash(importmap) + " " + _script_hash(ENTRY_MODULE)
           + " data:; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'")
    return _template().substitute(
        csp=f'<meta http-equiv="Content-Security-Policy" content="{csp}">', mode="offline", importmap=importmap,
        who="", view="",
        offline_note='<p class="note" data-i18n="offline_note"></p>',
        genesis=f'<script type="application/json" id="genesis">{genesis_json}</script>',
        style=f"<style>{static_text('app.css')}</style>",
        script=f'<script type="module">{ENTRY_MODULE}</script>',
    )
