"""`ledger evidence verifier-page` writes one HTML file that verifies receipts opened from
a disk with the network off: run as a user runs it, opened from file:// in chromium with
every request other than file: and data: aborted, it verifies the stored v1 receipts of
tests/vectors/receipt_v1 against their genesis, fails a changed file at step `file`, and
asks the network for nothing. A screenshot of each goes to tmp_path."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.web.browser import browser, chromium_or_skip, offline_context

ROOT = Path(__file__).resolve().parents[2]
V1 = ROOT / "tests" / "vectors" / "receipt_v1"


def test_the_offline_page_verifies_from_file_with_the_network_blocked(tmp_path: Path) -> None:
    chromium_or_skip()
    out = tmp_path / "verify.html"
    written = subprocess.run([sys.executable, "-m", "client.cli", "evidence", "verifier-page",
                              "--genesis", str(V1 / "genesis.json"), "--out", str(out)],
                             capture_output=True, text=True, timeout=120, check=True)
    assert "0x6745c97d1a941ede1d41a9e17f0efde6632511f3dea4624524a7ac9716cde5de" in written.stdout
    html = out.read_text(encoding="utf-8")
    assert "<script src=" not in html and "<link" not in html and "http://" not in html and "https://" not in html
    changed = tmp_path / "single.txt"
    changed.write_bytes((V1 / "single.txt").read_bytes() + b" ")
    with browser() as launched:
        context, attempted = offline_context(launched)
        page = context.new_page()
        page.goto(out.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        for name, evidence, receipt, expected in (
            ("index", V1 / "index.html", V1 / "index.html.receipt.json", "valid"),
            ("single", V1 / "single.txt", V1 / "single.txt.receipt.json", "valid"),
            ("changed", changed, V1 / "single.txt.receipt.json", "file"),
        ):
            page.set_input_files("#evidence-file", str(evidence))
            page.set_input_files("#receipt-file", str(receipt))
            page.evaluate("document.body.dataset.state = ''")
            page.click("button[type=submit]")
            page.wait_for_selector("body[data-state=done]")
            assert (page.get_attribute("#verdict", "data-failed-step") or "valid") == expected
            page.screenshot(path=str(tmp_path / f"offline-{name}.png"), full_page=True)
        context.close()
    assert attempted == []


def test_a_genesis_the_verifier_refuses_writes_no_page(tmp_path: Path) -> None:
    bad = tmp_path / "genesis.json"
    bad.write_text('{"config": {"chainId": 1}, "extraData": "0x00", "gasLimit": 30000000, "alloc": {}}')
    result = subprocess.run([sys.executable, "-m", "client.cli", "evidence", "verifier-page", "--genesis", str(bad),
                             "--out", str(tmp_path / "verify.html")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "extraData" in result.stderr + result.stdout
    assert not (tmp_path / "verify.html").exists()
