"""In-browser receipt verification time (the console's Verify page and the offline page).

Builds a chain in process (fixed keys, tests/unit/node/votechain.py) with three anchorings:
a 5 MiB file's SHA-256 digest, its SM3 digest, and a digest anchored after ``--votes``
vote-carrying headers (so its receipt carries that long a validator history). Each receipt
is verified by the Python verifier (evidence.receipt) and by the page's own JavaScript in
Debian's Chromium (Playwright, executable /usr/bin/chromium, the offline page opened from
file:// with every network request blocked), ``--runs`` times; the median is reported.
The issue's target: at most 1 s each in the browser.

    .venv/bin/python -m bench.web_verify                 # 500 vote headers
    .venv/bin/python -m bench.web_verify --votes 1024    # the receipt format's cap
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common.machine import machine_info
from bench.common.results import print_table
from evidence.receipt import GenesisTrust, Receipt, verify_receipt
from node.execution.chain import Chain
from node.storage.store import LevelStore
from node.web.pages import offline_page
from tests.unit.node.votechain import A, B, C, X, add, commit, make_genesis
from tests.unit.web.browser import browser, offline_context
from tests.unit.web.corpus import _anchor, _receipts, sm3

FILE_BYTES = 5 * 1024 * 1024
VERIFY_JS = """async ([receipt, file, genesis, runs]) => {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const { verifyReceipt } = await import("ledger/receipt.js");
  const r = bytes(receipt), f = bytes(file); const times = [];
  let res;
  for (let i = 0; i < runs; i++) {
    const t = performance.now(); res = verifyReceipt({receiptText: r, genesisText: genesis, file: f});
    times.push(performance.now() - t);
  }
  return [res.valid, times];
}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=500, help="vote-carrying headers before the last anchoring")
    parser.add_argument("--runs", type=int, default=5, help="verifications of each receipt (median reported)")
    args = parser.parse_args(argv)

    content = os.urandom(FILE_BYTES)
    with tempfile.TemporaryDirectory() as tmp:
        genesis = make_genesis()
        store = LevelStore(Path(tmp) / "chain")
        chain = Chain.initialise(store, genesis)
        sha = hashlib.sha256(content).digest()
        b1 = commit(chain, A, transactions=[_anchor(0, sha, 1, 1)])
        b2 = commit(chain, B, transactions=[_anchor(1, sm3(content), 1, 2)])
        for i in range(args.votes):  # A and B keep voting X in: 2 of 4 never add it, the set stays
            commit(chain, (A, B)[i % 2], add(X))
        late = hashlib.sha256(b"after votes").digest()
        b3 = commit(chain, C, transactions=[_anchor(2, late, 1, 1)])
        cases = [
            ("5 MiB file, SHA-256", _receipts(chain, b1, [sha], "sha256", False, genesis.chain_name)[0], content),
            ("5 MiB file, SM3", _receipts(chain, b2, [sm3(content)], "sm3", False, genesis.chain_name)[0], content),
        ]
        history = _receipts(chain, b3, [late], "sha256", False, genesis.chain_name)[0]
        cases.append((f"{len(history.validator_history)} vote headers", history, b"after votes"))
        store.close()
        genesis_text = json.dumps(genesis.document)
        trust = GenesisTrust.from_document(genesis.document)
        rows: list[tuple[str, str]] = []
        page_file = Path(tmp) / "verify.html"
        page_file.write_text(offline_page(genesis_text))
        with browser() as launched:
            context, _ = offline_context(launched)
            page = context.new_page()
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-ready=true]")
            for name, receipt, data in cases:
                python_ms = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    verify_receipt(Receipt.parse_text(receipt.to_json()), trust, data)
                    python_ms.append((time.perf_counter() - started) * 1000)
                valid, browser_ms = page.evaluate(VERIFY_JS, [
                    base64.b64encode(receipt.to_json().encode()).decode(), base64.b64encode(data).decode(),
                    genesis_text, args.runs])
                if not valid:
                    raise SystemExit(f"{name}: the browser found the receipt invalid")
                rows.append((name, f"Chromium {statistics.median(browser_ms):.0f} ms, "
                                   f"Python {statistics.median(python_ms):.0f} ms "
                                   f"(median of {args.runs}; receipt {len(receipt.to_json()):,} bytes)"))
    print_table("in-browser receipt verification", rows)
    info = machine_info()
    print_table("machine", [(k, info[k]) for k in ("cpu", "cores_usable", "python", "date") if k in info])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
