"""The browser verifier (node/web/static/js/receipt.js, in chromium) and evidence/receipt.py
give the same verdict - valid, or the same failing step - for every receipt of the corpus
(tests/unit/web/corpus.py: valid receipts, every field changed, vote histories changed,
seals dropped, other chains' genesis files, documents that are not RFC 8259, stored v1
receipts). The browser runs the verifier inside the offline page with the network blocked."""
from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.web.pages import offline_page
from tests.unit.web.browser import browser, offline_page_open
from tests.unit.web.corpus import ROOT, Case, build_corpus, python_verdict

# Runs in the page: the same function the Verify form calls, on the given bytes.
VERIFY_IN_PAGE = """async ([receipt, file, genesis]) => {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const { verifyReceipt } = await import("ledger/receipt.js");
  const result = verifyReceipt({ receiptText: bytes(receipt), genesisText: new TextDecoder().decode(bytes(genesis)),
                                 file: file === null ? null : bytes(file) });
  return result.valid ? "valid" : result.failedStep;
}"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    html = tmp_path_factory.mktemp("page") / "verify.html"
    html.write_text(offline_page((ROOT / "genesis.json").read_text()), encoding="utf-8")
    with browser() as launched, offline_page_open(launched, html) as opened:
        yield opened


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def test_the_corpus_covers_every_step_and_both_verdicts(corpus: list[Case]) -> None:
    verdicts = {python_verdict(case) for case in corpus}
    assert verdicts >= {"valid", "format", "genesis", "chain", "file", "inclusion", "header", "transaction",
                        "receipt proof", "anchoring event", "validator history", "validators", "commit seals"}


def test_browser_and_python_agree_on_every_case(corpus: list[Case], page: tuple[Any, list[str]]) -> None:
    opened, attempted = page
    disagreements = []
    for case in corpus:
        expected = python_verdict(case)
        got = opened.evaluate(VERIFY_IN_PAGE, [b64(case.receipt), b64(case.content), b64(case.genesis.encode())])
        if got != expected:
            disagreements.append(f"{case.name}: python {expected}, browser {got}")
    assert not disagreements, "\n".join(disagreements)
    assert attempted == []  # the verifier asked the network for nothing


def test_the_form_shows_the_verdict_and_each_step(corpus: list[Case], page: tuple[Any, list[str]],
                                                 tmp_path: Path) -> None:
    opened, _ = page
    for case in corpus:
        if case.name not in ("valid batch leaf 3", "mutation 25 proof.receiptProof"):
            continue
        (tmp_path / "genesis.json").write_text(case.genesis)
        (tmp_path / "evidence.bin").write_bytes(case.content or b"")
        (tmp_path / "x.receipt.json").write_bytes(case.receipt)
        opened.set_input_files("#genesis-file", str(tmp_path / "genesis.json"))
        opened.set_input_files("#evidence-file", str(tmp_path / "evidence.bin"))
        opened.set_input_files("#receipt-file", str(tmp_path / "x.receipt.json"))
        opened.evaluate("document.body.dataset.state = ''")
        opened.keyboard.press("Tab")  # the form is usable from the keyboard: submit with Enter
        opened.focus("button[type=submit]")
        opened.keyboard.press("Enter")
        opened.wait_for_selector("body[data-state=done]")
        expected = python_verdict(case)
        verdict = opened.locator("#verdict")
        assert verdict.get_attribute("data-valid") == str(expected == "valid").lower()
        assert (verdict.get_attribute("data-failed-step") or "valid") == expected
        rows = opened.locator("#steps tbody tr")
        statuses = {rows.nth(i).get_attribute("data-step"): rows.nth(i).get_attribute("data-status")
                    for i in range(rows.count())}
        if expected == "valid":
            assert statuses["commit seals"] == "passed" and statuses["trusted time"] == "none"
        else:
            assert statuses[expected] == "failed" and statuses["commit seals"] == "not run"
        opened.screenshot(path=str(tmp_path / f"{case.name.replace(' ', '_')}.png"), full_page=True)


def test_the_vendored_sm3_and_sha256_give_the_standards_vectors(page: tuple[Any, list[str]]) -> None:
    opened, _ = page
    digests = opened.evaluate("""async () => {
      const { sm3, sha256 } = await import("ledger/vendor/crypto.js");
      const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
      const abc = new TextEncoder().encode("abc");
      return [hex(sm3(abc)), hex(sm3(new TextEncoder().encode("abcd".repeat(16)))), hex(sha256(abc))];
    }""")
    # GB/T 32905-2016, appendix A (examples 1 and 2); FIPS 180-2, appendix B.1
    assert digests == ["66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
                       "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]
