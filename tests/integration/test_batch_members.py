"""Finding a file by its own digest when it was anchored inside a batch (issue 17 item 5),
against real dev node processes: a 100,000-entry batch is anchored with the SDK, which hands
its members to the node; one member is found through REST and `ledger evidence show`, its
receipt rebuilt from the node is the one the anchoring wrote and `ledger evidence verify`
accepts it. A batch anchored with `--no-index-members` leaves its members unfindable, and
only a role that may anchor evidence hands members over; wrong leaves, a root not on chain
and a body over the cap are each refused with their own status; and a refusal that needs
no body comes at once to a client that sent its headers and stalls its body."""
from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from client import Ledger, anchor_batch, rebuild_receipt
from client.anchoring import hand_over_members
from evidence import merkle
from node.access.tokens import TokenStore
from node.storage.members import MAX_MEMBERS_BODY_BYTES, index_bytes
from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BATCH = 100_000
PROBE = 77_777  # the member looked for: in the middle of a chunk, far from either end
TOKEN_TTL_SECONDS = 3600
# How long a client that sent only its headers waits for the answer: far below the node's
# MEMBER_BODY_SECONDS (120), so an answer that waited for the body would not come in time.
HEADERS_ONLY_TIMEOUT_SECONDS = 20


def content(i: int) -> bytes:
    return f"tender document {i}\n".encode()


def ledger_cli(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if check is not None:
        assert done.returncode == check, done.stdout + done.stderr
    return done


def rest(url: str, method: str = "GET", body: bytes | None = None, token: str | None = None) -> tuple[int, Any, Any]:
    """(status, JSON body, headers) of one request; refusals are answers here, not errors.

    The node may answer an upload before it has read the body (a batch it holds already:
    200 with the body unread) and close the connection, so a write that meets a closed
    socket still reads the answer, as the SDK's client does (client/http.py)."""
    headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    try:
        try:
            connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                               headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the whole body was taken: read that answer
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.headers
    finally:
        connection.close()


def test_a_member_of_a_100000_entry_batch_is_found_and_its_receipt_rebuilt(dev_node: NodeProcess,
                                                                           tmp_path: Path) -> None:
    digests = [hashlib.sha256(content(i)).digest() for i in range(BATCH)]
    ledger = Ledger(dev_node.url, bytes.fromhex(dev_node.dev_key.removeprefix("0x")))
    anchoring = anchor_batch(ledger, digests, kind="tender", case="P-2026-100K")
    assert anchoring.members is not None and anchoring.members.indexed, anchoring.members
    root = anchoring.receipts[0].anchored
    probe = digests[PROBE]

    # REST: the member's entry, with its batch, block and time
    status, page, _ = rest(f"{dev_node.url}/v1/evidence/0x{probe.hex()}")
    assert status == 200
    (entry,) = page["items"]
    assert entry["digest"] == "0x" + probe.hex() and entry["caseRef"] == "P-2026-100K"
    assert entry["batch"] == {"root": "0x" + root.hex(), "leafIndex": PROBE, "treeSize": BATCH}
    assert entry["anchored"]["block"] == anchoring.result.block_number
    assert entry["anchored"]["transactionHash"] == "0x" + anchoring.result.tx_hash.hex()
    status, proof, _ = rest(f"{dev_node.url}/v1/evidence/0x{probe.hex()}/proof")
    assert status == 200
    merkle.verify_inclusion(merkle.leaf_hash(probe), PROBE, BATCH,
                            [bytes.fromhex(h[2:]) for h in proof["inclusionPath"]], root)
    # the root's own entry says its members are held
    status, page, _ = rest(f"{dev_node.url}/v1/evidence/0x{root.hex()}")
    assert page["items"][0]["membersIndexed"] is True and page["items"][0]["batch"] is None

    # the SDK rebuilds exactly the receipt the anchoring wrote
    assert rebuild_receipt(ledger, probe).to_document() == anchoring.receipts[PROBE].to_document()

    # handing the same members over again is answered, and changes nothing
    again = hand_over_members(ledger, root, digests)
    assert again.indexed
    status, answer, _ = rest(f"{dev_node.url}/v1/evidence/0x{root.hex()}/members", "PUT", b"".join(digests))
    assert status == 200 and answer["created"] is False and answer["members"] == BATCH

    # the CLI: found by the file's digest, receipt written, and verified offline with the file
    file = tmp_path / "document-77777.txt"
    file.write_bytes(content(PROBE))
    receipt = tmp_path / "member.receipt.json"
    shown = json.loads(ledger_cli("evidence", "show", "0x" + probe.hex(), "--receipt-out", str(receipt),
                                  "--rpc", dev_node.url, "--json").stdout)
    assert "kind" not in shown  # not anchored on its own
    (member,) = shown["memberOf"]
    assert (member["root"], member["leafIndex"], member["treeSize"]) == ("0x" + root.hex(), PROBE, BATCH)
    text = ledger_cli("evidence", "show", "0x" + probe.hex(), "--rpc", dev_node.url).stdout
    assert "member of" in text and f"{PROBE} of {BATCH}" in text and root.hex() in text.replace("\n", "")
    verified = ledger_cli("evidence", "verify", str(receipt), "--file", str(file),
                          "--genesis", str(dev_node.data_dir / "genesis.json"))
    assert "✓ inclusion" in verified.stdout and "VALID" in verified.stdout
    wrong = tmp_path / "other.txt"
    wrong.write_bytes(content(PROBE + 1))
    refused = ledger_cli("evidence", "verify", str(receipt), "--file", str(wrong),
                         "--genesis", str(dev_node.data_dir / "genesis.json"), check=1)
    assert "✗ file" in refused.stdout


def test_no_index_members_leaves_the_members_unfindable(dev_node: NodeProcess, tmp_path: Path) -> None:
    files = tmp_path / "confidential"
    files.mkdir()
    (files / "a.pdf").write_bytes(b"%PDF-1.7 the informant's statement\n")
    (files / "b.pdf").write_bytes(b"%PDF-1.7 the second statement\n")
    key = tmp_path / "dev.key"
    key.write_text(dev_node.dev_key)
    anchored = json.loads(ledger_cli("evidence", "anchor", str(files), "--no-index-members", "--out",
                                     str(tmp_path / "receipts"), "--key", str(key), "--rpc", dev_node.url,
                                     "--json").stdout)
    assert anchored["membersIndexed"] is False
    member = anchored["files"][0]["digest"]
    status, _, _ = rest(f"{dev_node.url}/v1/evidence/{member}")
    assert status == 404
    missing = ledger_cli("evidence", "show", member, "--rpc", dev_node.url, check=1)
    assert "not anchored" in missing.stderr
    _, page, _ = rest(f"{dev_node.url}/v1/evidence/{anchored['root']}")
    assert page["items"][0]["membersIndexed"] is False
    # the root is shown, but a receipt is per entry, not per batch
    root_only = ledger_cli("evidence", "show", anchored["root"], "--receipt-out", str(tmp_path / "root.json"),
                           "--rpc", dev_node.url, check=1)
    assert "is the root of a batch, not an entry" in root_only.stderr
    # the same run without the option: each file is found
    (files / "c.pdf").write_bytes(b"%PDF-1.7 a public notice\n")
    indexed = json.loads(ledger_cli("evidence", "anchor", str(files / "c.pdf"), "--out", str(tmp_path / "r2"),
                                    "--key", str(key), "--rpc", dev_node.url, "--json").stdout)
    assert indexed["membersIndexed"] is True
    status, page, _ = rest(f"{dev_node.url}/v1/evidence/{indexed['files'][0]['digest']}")
    assert status == 200 and page["items"][0]["batch"]["treeSize"] == 1


def test_only_a_role_that_anchors_hands_members_over(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data", free_port(), auth="required").start()
    try:
        store = TokenStore(node.data_dir)
        tokens = {role: store.issue(role, f"test {role}", None, TOKEN_TTL_SECONDS)[0]
                  for role in ("ADMIN", "TRADING_CENTER", "AUDITOR", "REGULATOR")}
        batch = [hashlib.sha256(f"exhibit {i}".encode()).digest() for i in range(5)]
        root = merkle.root(batch)
        url = f"{node.url}/v1/evidence/0x{root.hex()}/members"
        body = b"".join(batch)

        # before the root is on chain: 409, to retry after its block
        status, answer, headers = rest(url, "PUT", body, tokens["TRADING_CENTER"])
        assert status == 409 and "not anchored" in answer["error"] and headers["Retry-After"]

        ledger = Ledger(node.url, bytes.fromhex(node.dev_key.removeprefix("0x")), token=tokens["ADMIN"])
        anchored = anchor_batch(ledger, batch, kind="exhibit", index_members=False)
        assert anchored.members is not None and not anchored.members.indexed

        for role in ("AUDITOR", "REGULATOR"):  # may read (or not) but never anchor evidence
            status, answer, _ = rest(url, "PUT", body, tokens[role])
            assert status == 403 and f"role {role} may not use evidence:write" in answer["error"], answer
        status, _, _ = rest(url, "PUT", body, None)
        assert status == 401
        # leaves that do not make the root: 400 naming the root they make
        status, answer, _ = rest(url, "PUT", b"".join(reversed(batch)), tokens["TRADING_CENTER"])
        assert status == 400 and f"make the root 0x{merkle.root(batch[::-1]).hex()}" in answer["error"]
        status, answer, _ = rest(url, "PUT", body[:-1], tokens["TRADING_CENTER"])
        assert status == 400 and "not 1 or more leaves" in answer["error"]
        # a declared body over the cap is refused before it is read
        request = urllib.request.Request(url, method="PUT", headers={
            "Authorization": f"Bearer {tokens['TRADING_CENTER']}", "Content-Length": str(MAX_MEMBERS_BODY_BYTES + 32)})
        with pytest.raises(urllib.error.HTTPError) as too_large:
            urllib.request.urlopen(request, timeout=30)
        assert too_large.value.code == 413

        status, answer, _ = rest(url, "PUT", body, tokens["TRADING_CENTER"])
        assert status == 201 and answer["created"] and answer["members"] == 5
        status, page, _ = rest(f"{node.url}/v1/evidence/0x{batch[3].hex()}", token=tokens["AUDITOR"])
        assert status == 200 and page["items"][0]["batch"]["leafIndex"] == 3
    finally:
        node.stop()


def headers_only(node: NodeProcess, root: bytes, length: int | None) -> tuple[int, Any]:
    """PUT the members of `root` declaring `length` bytes (None: no Content-Length), and
    never send the body: the node's answer (status, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=HEADERS_ONLY_TIMEOUT_SECONDS)
    try:
        conn.putrequest("PUT", f"/v1/evidence/0x{root.hex()}/members")
        conn.putheader("Content-Type", "application/octet-stream")
        if length is not None:
            conn.putheader("Content-Length", str(length))
        conn.endheaders()  # the headers go; the body never does
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_refusals_that_need_no_body_come_before_it_is_read(dev_node: NodeProcess) -> None:
    batch = [hashlib.sha256(f"headers only {i}".encode()).digest() for i in range(5)]
    root = merkle.root(batch)
    # not anchored yet: 409 at once, the 160 bytes declared never read
    status, answer = headers_only(dev_node, root, 32 * len(batch))
    assert status == 409 and "not anchored" in answer["error"]
    # no declared length: 411; a length that is not whole leaves: 400
    status, answer = headers_only(dev_node, root, None)
    assert status == 411 and "Content-Length" in answer["error"]
    status, _ = headers_only(dev_node, root, 33)
    assert status == 400

    ledger = Ledger(dev_node.url, bytes.fromhex(dev_node.dev_key.removeprefix("0x")))
    anchored = anchor_batch(ledger, batch, kind="exhibit")
    assert anchored.members is not None and anchored.members.indexed
    # held already: 200 as it is, the body unread; declared with another count: 409
    status, answer = headers_only(dev_node, root, 32 * len(batch))
    assert status == 200 and answer["created"] is False and answer["members"] == len(batch)
    assert answer["bytes"] == index_bytes(len(batch))
    status, answer = headers_only(dev_node, root, 32 * (len(batch) + 1))
    assert status == 409 and "holds this batch with 5 members" in answer["error"]
