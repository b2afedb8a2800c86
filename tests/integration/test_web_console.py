"""The console a browser opens on a live dev node: `GET /` is the Verify page (JSON-RPC's
`POST /` unchanged, HEAD answered), a file anchored through the node is dropped into the
page with its receipt and verified in chromium - every request but the node's own
blocked and none made after the genesis - a tampered receipt fails at its step, and /docs
serves Swagger UI from the node with a bearer-token scheme. Screenshots go to tmp_path."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from client.anchoring import anchor_batch
from client.ledger import Ledger
from tests.integration.nodeproc import NodeProcess, rpc
from tests.unit.web.browser import browser, node_only_context

pytestmark = pytest.mark.slow
FILES = [b"exhibit A: a tender notice\n", b"exhibit B: the bid opening record\n" * 50]


def test_get_and_head_of_root_serve_the_console_and_post_stays_json_rpc(dev_node: NodeProcess) -> None:
    page = httpx.get(dev_node.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert 'id="verify-form"' in page.text and "https://" not in page.text and "http://" not in page.text
    assert httpx.head(dev_node.url + "/").status_code == 200
    assert rpc(dev_node.url, "eth_chainId") == "0x539"
    genesis = httpx.get(dev_node.url + "/web/genesis.json").json()
    assert genesis["extraData"] == json.loads((dev_node.data_dir / "genesis.json").read_text())["extraData"]
    assert httpx.get(dev_node.url + "/web/static/vendor/crypto.js").status_code == 200
    assert httpx.get(dev_node.url + "/web/static/../pages.py").status_code == 404


def test_docs_are_served_locally_with_a_bearer_token_field(dev_node: NodeProcess, tmp_path: Path) -> None:
    docs = httpx.get(dev_node.url + "/docs")
    assert docs.status_code == 200
    assert docs.headers["x-frame-options"] == "DENY" and docs.headers["x-content-type-options"] == "nosniff"
    assert "/web/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    document = httpx.get(dev_node.url + "/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bearerAuth"]["description"]}
    assert httpx.get(dev_node.url + "/redoc").status_code in (404, 405)
    with browser() as launched:
        context, elsewhere = node_only_context(launched, dev_node.url)
        page = context.new_page()
        page.goto(dev_node.url + "/docs")
        page.wait_for_selector(".swagger-ui .authorize")
        page.click(".swagger-ui .authorize")
        page.wait_for_selector("input[type=text], input[type=password]")
        page.screenshot(path=str(tmp_path / "docs.png"))
        context.close()
    assert elsewhere == []


def test_a_receipt_anchored_through_the_node_verifies_in_the_page(dev_node: NodeProcess, tmp_path: Path) -> None:
    ledger = Ledger(dev_node.url, bytes.fromhex(dev_node.dev_key[2:]))
    anchoring = anchor_batch(ledger, [hashlib.sha256(f).digest() for f in FILES], kind="web-capture", case="IP-2026-77")
    evidence, receipt = tmp_path / "exhibit-b.txt", tmp_path / "exhibit-b.txt.receipt.json"
    evidence.write_bytes(FILES[1])
    receipt.write_text(anchoring.receipts[1].to_json())
    tampered = tmp_path / "tampered.receipt.json"
    document = anchoring.receipts[1].to_document()
    document["entry"]["case"] = "IP-2026-78"
    tampered.write_text(json.dumps(document))
    with browser() as launched:
        context, elsewhere = node_only_context(launched, dev_node.url)
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(dev_node.url + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector("body[data-console=ready]")  # the shell asked the node for the session
        loaded = len(requests)
        for name, receipt_path, expected in (("valid", receipt, "valid"), ("tampered", tampered, "anchoring event")):
            page.set_input_files("#evidence-file", str(evidence))
            page.set_input_files("#receipt-file", str(receipt_path))
            page.evaluate("document.body.dataset.state = ''")
            page.click("button[type=submit]")
            page.wait_for_selector("body[data-state=done]")
            verdict = page.locator("#verdict")
            assert (verdict.get_attribute("data-failed-step") or "valid") == expected, page.inner_text("#steps")
            page.screenshot(path=str(tmp_path / f"verify-{name}.png"), full_page=True)
        assert "VALID" in page.inner_text("#verdict") or "有效" in page.inner_text("#verdict") or expected != "valid"
        page.click("#lang")
        assert page.inner_text("#lang") in ("English", "中文")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        page.screenshot(path=str(tmp_path / "verify-phone.png"), full_page=True)
        context.close()
    assert elsewhere == []
    assert requests[loaded:] == []  # verifying sent nothing: not the file, not the receipt
