"""The Administration page (node/web/static/js/admin.js) in chromium on real nodes: an admin
sets the escalation policy, grants roles and trusts a CA root through its forms, each a
transaction the page signs with the key file the admin chose — checked independently
here (eth-account recovers the sender from the raw transaction the page sent, web3 decodes
its calldata with the contract's ABI) and read back through the SDK and the REST API. Trust
and grants take the admin quorum: a second admin approves from the page. A non-admin key
is refused before anything is signed. On a node that requires tokens the admin signs in
with the session cookie; a write without its CSRF header is refused, a regulator's session
is not offered the page, and a regulator can neither set the policy itself nor relay the
admin's transaction. Screenshots: admin-<role>.png."""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import rlp
from cryptography.hazmat.primitives import serialization
from eth_account import Account
from eth_utils import to_checksum_address
from web3 import Web3

from chaincode import COMMITMENT_TRACKER, IDENTITY_REGISTRY, load_artifact
from client.ledger import Ledger
from tests.integration.nodeproc import NodeProcess
from tests.integration.permissioned import Network, account_key, address_of, issue_tokens, start_network
from tests.pki import p256_ca, p384_ca
from tests.unit.web.browser import browser, node_only_context, screenshot

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 30.0
# Fixed accounts the tests grant roles to (keys: keccak of a name, tests/integration/permissioned.py).
SECOND_ADMIN = "second admin"
NEW_REGULATOR = "new regulator"
PERMISSIONED_MEMBERS = [("admin", "ADMIN"), ("regulator", "REGULATOR")]
PERMISSIONED_CHAIN_ID = 4242


# -- the page and what it sends ------------------------------------------------------------------


def _admin_context(launched: Any, url: str) -> tuple[Any, list[str]]:
    """A context that reaches only the node; the shell loads admin.js as one of its pages."""
    context, elsewhere = node_only_context(launched, url)
    return context, elsewhere


@dataclass
class Sent:
    """A raw transaction the page sent, decoded here without the page's code."""

    sender: str
    to: str
    function: str
    args: dict[str, Any]
    nonce: int
    gas_price: int
    chain_id: int


def decode_sent(raw_hex: str) -> Sent:
    raw = bytes.fromhex(raw_hex.removeprefix("0x"))
    assert raw[0] >= 0xC0, "a legacy transaction (an RLP list), as client/ledger.py sends"
    nonce, gas_price, _gas, to, _value, data, v, _r, _s = rlp.decode(raw)
    to_address = to_checksum_address(to)
    name = {to_checksum_address(IDENTITY_REGISTRY): "IdentityRegistry",
            to_checksum_address(COMMITMENT_TRACKER): "CommitmentTracker"}[to_address]
    function, args = Web3().eth.contract(abi=load_artifact(name).abi).decode_function_input(data)
    return Sent(sender=Account.recover_transaction(raw), to=to_address, function=function.fn_name, args=args,
                nonce=int.from_bytes(nonce, "big"), gas_price=int.from_bytes(gas_price, "big"),
                chain_id=(int.from_bytes(v, "big") - 35) // 2)


class AdminPage:
    """The Administration page open in chromium, and every raw transaction it sent."""

    def __init__(self, context: Any, url: str) -> None:
        self.page = context.new_page()
        self.url = url
        self.sent: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", self._record)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(url + "/#admin")
        self.page.wait_for_selector("body[data-console=ready]")
        self.page.wait_for_selector("#policy-current[data-reminder]")

    def _record(self, request: Any) -> None:
        if request.method == "POST" and request.url.rstrip("/") == self.url:
            body = json.loads(request.post_data or "{}")
            if body.get("method") == "eth_sendRawTransaction":
                self.sent.append(body["params"][0])

    def choose_key(self, path: Path, address: str) -> None:
        self.page.set_input_files("#admin-key-file", str(path))
        self.page.wait_for_selector(f"#admin-key-state[data-address='{address}']")
        self.page.wait_for_selector(".proposals table")  # the proposals redrawn for this key

    def review(self, box: str) -> Any:
        """The transaction the form in `box` offers to sign."""
        return self.page.wait_for_selector(f"{box} .tx-review[data-state=review], {box} .tx-out .error")

    def send(self, box: str) -> Any:
        """Sign and send what `box` shows; the panel once the receipt (or refusal) is in."""
        before = len(self.sent)
        self.page.click(f"{box} .tx-send")
        panel = self.page.wait_for_selector(
            f"{box} .tx-review:is([data-state=success], [data-state=failed], [data-state=rejected], [data-state=timeout])",
            timeout=DEADLINE_SECONDS * 1000 * 3)
        assert len(self.sent) == before + 1
        return panel

    def shown_call(self, box: str) -> tuple[str, dict[str, str]]:
        """The function and arguments the review shows (each argument's full value)."""
        function = self.page.get_attribute(f"{box} .tx-review [data-function]", "data-function")
        args = {}
        for dd in self.page.query_selector_all(f"{box} .tx-review dd[data-arg]"):
            full = dd.query_selector("[data-value]")
            args[str(dd.get_attribute("data-arg"))] = full.get_attribute("data-value") if full else dd.inner_text().strip()
        return str(function), args


def key_file(directory: Path, name: str, key: bytes) -> Path:
    path = directory / f"{name.replace(' ', '-')}.key"
    path.write_text("0x" + key.hex() + "\n")  # as `ledger keys new` writes one
    return path


def member_roles(url: str, address: str, headers: dict[str, str] | None = None) -> list[str]:
    """The member's roles as GET /v1/members/{address} answers, once the index has them."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        reply = httpx.get(f"{url}/v1/members/{address}", headers=headers or {}, timeout=DEADLINE_SECONDS)
        if reply.status_code == 200:
            return list(reply.json()["roles"])
        assert reply.status_code == 404 and time.monotonic() < deadline, reply.text
        time.sleep(0.1)


# -- a dev node: the anonymous ADMIN, its account the one admin -----------------------------------


def test_the_chaincode_route_serves_the_abis_the_sdk_loads(dev_node: NodeProcess) -> None:
    answer = httpx.get(dev_node.url + "/v1/chaincode", timeout=DEADLINE_SECONDS).json()
    for contract in answer["contracts"]:
        artifact = load_artifact(contract["name"])
        assert (contract["abi"], contract["sourceSha256"]) == (artifact.abi, artifact.source_sha256)
    assert {c["name"]: c["address"] for c in answer["contracts"]}["IdentityRegistry"] == to_checksum_address(IDENTITY_REGISTRY)
    assert answer["roles"]["REGULATOR"] == 8 and answer["proposalActions"]["GRANT_ROLES"] == 3


def test_the_policy_set_through_the_form_is_what_the_admin_signed(dev_node: NodeProcess, tmp_path: Path) -> None:
    ledger = Ledger(dev_node.url)
    admin_key = key_file(tmp_path, "admin", bytes.fromhex(dev_node.dev_key.removeprefix("0x")))
    with browser() as launched:
        context, elsewhere = _admin_context(launched, dev_node.url)
        admin = AdminPage(context, dev_node.url)
        assert admin.page.get_attribute("#admin-key-state", "data-address") == ""
        # No key: the form says so and nothing is built.
        admin.page.click("#policy-form button[type=submit]")
        assert admin.page.wait_for_selector("#admin-policy [data-state=no-key]")
        admin.choose_key(admin_key, dev_node.dev_address)
        assert admin.page.get_attribute("#admin-key-state", "data-admin") == "true"
        admin.page.fill("#policy-reminder", "2")
        admin.page.select_option("#policy-reminder-unit", "3600")
        admin.page.fill("#policy-demand", "3")
        admin.page.select_option("#policy-demand-unit", "86400")
        admin.page.click("#policy-form button[type=submit]")
        admin.review("#admin-policy")
        assert admin.shown_call("#admin-policy") == ("set_policy", {"reminder_window": "7200", "demand_delay": "259200"})
        assert admin.page.inner_text("#admin-policy .tx-review").count(dev_node.dev_address[:8]) >= 1
        panel = admin.send("#admin-policy")
        assert panel.get_attribute("data-state") == "success"
        tx_hash = panel.get_attribute("data-tx-hash")
        assert admin.page.wait_for_selector("#admin-policy [data-event=PolicySet]")
        admin.page.wait_for_selector("#policy-current[data-reminder='7200'][data-demand='259200']")
        screenshot(admin.page, "admin-policy-admin", tmp_path)
        context.close()
    assert admin.errors == [] and elsewhere == []
    # Independently: the raw transaction is the admin's, to the tracker, set_policy(7200, 259200).
    (raw,) = admin.sent
    sent = decode_sent(raw)
    assert sent.sender == dev_node.dev_address
    assert (sent.to, sent.function, sent.args) == (
        to_checksum_address(COMMITMENT_TRACKER), "set_policy", {"reminder_window": 7200, "demand_delay": 259200})
    assert (sent.gas_price, sent.chain_id) == (0, dev_node.chain_id)
    assert tx_hash == "0x" + Web3.keccak(hexstr=raw).hex().removeprefix("0x")
    assert tuple(ledger.call(ledger.commitments.functions.policy())) == (7200, 259200)


def test_roots_and_roles_take_the_admin_quorum_from_the_page(dev_node: NodeProcess, tmp_path: Path) -> None:
    ledger = Ledger(dev_node.url)
    first = key_file(tmp_path, "admin", bytes.fromhex(dev_node.dev_key.removeprefix("0x")))
    second, second_address = key_file(tmp_path, SECOND_ADMIN, account_key(SECOND_ADMIN)), address_of(SECOND_ADMIN)
    regulator, regulator_address = key_file(tmp_path, NEW_REGULATOR, account_key(NEW_REGULATOR)), address_of(NEW_REGULATOR)
    ca = p256_ca()
    root_pem = tmp_path / "chain.pem"  # the intermediate first, then the root: the page picks the root
    root_pem.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in ca.path))
    fingerprint = hashlib.sha256(ca.root_der).digest()
    with browser() as launched:
        context, elsewhere = _admin_context(launched, dev_node.url)
        admin = AdminPage(context, dev_node.url)
        page = admin.page
        admin.choose_key(first, dev_node.dev_address)

        # 1. A second admin: one admin is the whole quorum, so the proposal executes at once.
        page.fill("#grant-address", second_address)
        page.check("#grant-role-admin")
        page.click("#grant-form button[type=submit]")
        admin.review("#admin-grant")
        function, args = admin.shown_call("#admin-grant")
        assert function == "propose" and args["action"] == "3" and args["argument"] == "1"
        assert admin.send("#admin-grant").get_attribute("data-state") == "success"
        page.wait_for_selector("#admin-grant [data-event=RolesChanged]")
        # (on chain: the members index records roles of registered members only)
        assert ledger.member(second_address)["roles"] == 1
        page.wait_for_selector("[data-quorum='2']")

        # 2. Trust a root: the first admin proposes (1 of 2) ...
        page.set_input_files("#root-file", str(root_pem))
        page.wait_for_selector("#root-state[data-trusted=false]")
        assert "Province CA Root (P-256)" in page.inner_text("#root-facts")
        page.click("#root-form button[type=submit]")
        admin.review("#admin-root")
        assert admin.shown_call("#admin-root")[0] == "propose_trust_root"
        assert admin.send("#admin-root").get_attribute("data-state") == "success"
        page.wait_for_selector("#admin-root [data-event=RootProposed]")
        assert not ledger.root(fingerprint)["trusted"]
        proposal = "2"
        row = page.wait_for_selector(f"#admin-proposals .proposals[data-count='{proposal}'] tr[data-proposal='{proposal}']")
        assert "1 / 2" in row.inner_text() and row.query_selector("button.approve") is None  # the proposer's approval counts
        # ... and the second approves it from the proposals table: the root is trusted.
        admin.choose_key(second, second_address)
        page.click(f"#admin-proposals button[data-proposal='{proposal}']")
        admin.review("#admin-proposals")
        assert admin.shown_call("#admin-proposals")[0] == "approve"
        assert admin.send("#admin-proposals").get_attribute("data-state") == "success"
        page.wait_for_selector("#admin-proposals [data-event=RootTrusted]")
        page.wait_for_selector("#root-state[data-trusted=true]")
        assert ledger.root(fingerprint)["trusted"]

        # 3. A member registered under the newly trusted root (PARTY) is granted REGULATOR: the
        #    second admin proposes, the first approves through the same form.
        Ledger(dev_node.url, account_key(NEW_REGULATOR)).register_member(ca.issue("Housing Bureau", "p256"))
        assert member_roles(dev_node.url, regulator_address) == ["PARTY"]
        page.fill("#grant-address", regulator_address)
        page.uncheck("#grant-role-admin")
        page.check("#grant-role-regulator")
        page.click("#grant-form button[type=submit]")
        admin.review("#admin-grant")
        assert admin.shown_call("#admin-grant")[0] == "propose"
        assert admin.send("#admin-grant").get_attribute("data-state") == "success"
        admin.choose_key(first, dev_node.dev_address)
        page.click("#grant-form button[type=submit]")  # the same member and role: pending, so approve
        admin.review("#admin-grant")
        assert admin.shown_call("#admin-grant")[0] == "approve"
        assert admin.send("#admin-grant").get_attribute("data-state") == "success"
        page.wait_for_selector("#admin-grant [data-event=RolesChanged]")
        deadline = time.monotonic() + DEADLINE_SECONDS
        while (roles := member_roles(dev_node.url, regulator_address)) != ["PARTY", "REGULATOR"]:
            assert time.monotonic() < deadline, roles
            time.sleep(0.1)
        screenshot(page, "admin-admin", tmp_path)

        # 4. A key that is not an admin's: said at once, and the contract's refusal comes back
        #    from the estimate, before anything is signed.
        admin.choose_key(regulator, regulator_address)
        assert page.get_attribute("#admin-key-state", "data-admin") == "false"
        page.click("#policy-form button[type=submit]")
        refusal = page.wait_for_selector("#admin-policy [data-state=refused]")
        assert "only an admin may set the policy" in refusal.inner_text()
        page.set_input_files("#root-file", _pem(tmp_path, p384_ca()))
        page.wait_for_selector("#root-state[data-trusted=false]")
        page.click("#root-form button[type=submit]")
        assert "only an admin may propose" in page.wait_for_selector("#admin-root [data-state=refused]").inner_text()

        # 5. The page in Chinese.
        page.click("#lang")
        page.wait_for_selector("#page-admin h1:text('系统管理')")
        screenshot(page, "admin-admin-zh", tmp_path)
        page.click("#lang")
        context.close()
    assert admin.errors == [] and elsewhere == []
    # Independently: who signed each of the five transactions and what each calls.
    decoded = [decode_sent(raw) for raw in admin.sent]
    assert [(d.sender, d.function) for d in decoded] == [
        (dev_node.dev_address, "propose"), (dev_node.dev_address, "propose_trust_root"), (second_address, "approve"),
        (second_address, "propose"), (dev_node.dev_address, "approve")]
    assert decoded[0].args == {"action": 3, "subject": bytes(12) + bytes.fromhex(second_address[2:]), "argument": 1}
    assert decoded[1].args == {"certificate": ca.root_der, "ca_admin": "0x" + "00" * 20}
    assert decoded[2].args == {"id": int(proposal)}
    assert decoded[3].args["argument"] == 8 and decoded[4].args == {"id": decoded[2].args["id"] + 1}
    assert all(d.gas_price == 0 and d.chain_id == dev_node.chain_id for d in decoded)


def _pem(directory: Path, ca: Any) -> str:
    path = directory / f"{ca.name}-root.pem"
    path.write_bytes(ca.root_pem)
    return str(path)


# -- a node that requires tokens: the session cookie and its CSRF value ---------------------------


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Network, dict[str, str]]]:
    net = start_network(tmp_path_factory.mktemp("admin-auth"), PERMISSIONED_MEMBERS, auth="required")
    try:
        tokens = issue_tokens(net.node.data_dir, {
            "ADMIN": ["--role", "admin", "--subject", "Consortium admin"],
            "REGULATOR": ["--role", "regulator", "--subject", "City Housing Bureau"],
            "BOUND_REGULATOR": ["--role", "regulator", "--subject", "City Housing Bureau",
                                "--address", address_of("regulator")],
        })
        yield net, tokens
    finally:
        net.node.stop()


def _sign_in(context: Any, url: str, token: str) -> dict[str, Any]:
    reply = context.request.post(url + "/web/session", data={"token": token})
    assert reply.status == 200, reply.text()
    return dict(reply.json())


def _signed_set_policy(name: str, nonce: int, reminder: int, demand: int) -> str:
    tracker = Web3().eth.contract(abi=load_artifact("CommitmentTracker").abi)
    tx: dict[str, Any] = {"to": to_checksum_address(COMMITMENT_TRACKER), "data": tracker.encode_abi("set_policy", [reminder, demand]),
                          "nonce": nonce, "gas": 200_000, "gasPrice": 0, "chainId": PERMISSIONED_CHAIN_ID, "value": 0}
    return "0x" + Account.from_key(account_key(name)).sign_transaction(tx).raw_transaction.hex()


def test_with_tokens_the_admin_signs_in_and_a_regulator_may_not(network: tuple[Network, dict[str, str]],
                                                                 tmp_path: Path) -> None:
    net, tokens = network
    url = net.url
    bearer = {"Authorization": f"Bearer {tokens['ADMIN']}"}
    ledger = Ledger(url, token=tokens["ADMIN"])
    admin_key = key_file(tmp_path, "admin", account_key("admin"))
    with browser() as launched:
        # The admin's session: the form's transaction goes out with the session's CSRF value.
        context, elsewhere = _admin_context(launched, url)
        assert _sign_in(context, url, tokens["ADMIN"])["role"] == "ADMIN"
        admin = AdminPage(context, url)
        admin.choose_key(admin_key, address_of("admin"))
        admin.page.fill("#policy-reminder", "90")
        admin.page.select_option("#policy-reminder-unit", "60")
        admin.page.fill("#policy-demand", "1")
        admin.page.select_option("#policy-demand-unit", "86400")
        admin.page.click("#policy-form button[type=submit]")
        admin.review("#admin-policy")
        assert admin.send("#admin-policy").get_attribute("data-state") == "success"
        assert tuple(ledger.call(ledger.commitments.functions.policy())) == (5400, 86400)
        assert decode_sent(admin.sent[0]).sender == address_of("admin")
        screenshot(admin.page, "admin-admin-session", tmp_path)
        # The same cookie without the CSRF header: refused before the call runs.
        nonce = int(httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount",
                                          "params": [address_of("admin"), "pending"]}, headers=bearer).json()["result"], 16)
        unsigned_header = context.request.post(url + "/", data={
            "jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
            "params": [_signed_set_policy("admin", nonce, 60, 60)]})
        assert unsigned_header.status == 403
        assert unsigned_header.json()["error"] == "CSRF token missing or wrong"
        assert tuple(ledger.call(ledger.commitments.functions.policy())) == (5400, 86400)
        context.close()
        assert admin.errors == [] and elsewhere == []

        # A regulator's session: no Administration in the nav, and the page is not drawn.
        context, elsewhere = _admin_context(launched, url)
        regulator = _sign_in(context, url, tokens["REGULATOR"])
        page = context.new_page()
        page.goto(url + "/#admin")
        page.wait_for_selector("body[data-console=ready]")
        page.wait_for_selector("body[data-page=admin][data-state=done]")
        assert page.locator("#nav a[data-page=admin]").count() == 0
        assert page.locator("#policy-form").count() == 0 and page.is_visible("#page-admin .note")
        screenshot(page, "admin-regulator", tmp_path)

        def rpc(method: str, params: list[Any]) -> dict[str, Any]:
            reply = context.request.post(url + "/", data={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                                         headers={"X-CSRF-Token": regulator["csrf"]})
            assert reply.status == 200, reply.text()
            return dict(reply.json())

        # The regulator's own set_policy: the contract refuses the estimate, and the signed
        # transaction sent anyway fails in its block; the policy stays.
        tracker = Web3().eth.contract(abi=load_artifact("CommitmentTracker").abi)
        call = {"from": address_of("regulator"), "to": to_checksum_address(COMMITMENT_TRACKER),
                "data": tracker.encode_abi("set_policy", [60, 60])}
        assert "only an admin may set the policy" in rpc("eth_estimateGas", [call])["error"]["message"]
        tx_hash = rpc("eth_sendRawTransaction", [_signed_set_policy("regulator", 0, 60, 60)])["result"]
        deadline = time.monotonic() + DEADLINE_SECONDS
        while (receipt := rpc("eth_getTransactionReceipt", [tx_hash])["result"]) is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert receipt["status"] == "0x0"
        assert tuple(ledger.call(ledger.commitments.functions.policy())) == (5400, 86400)
        context.close()
        assert elsewhere == []

        # A regulator's session bound to its address cannot relay the admin's signed transaction.
        context, _ = _admin_context(launched, url)
        bound = _sign_in(context, url, tokens["BOUND_REGULATOR"])
        relayed = context.request.post(url + "/", data={
            "jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
            "params": [_signed_set_policy("admin", nonce, 60, 60)]}, headers={"X-CSRF-Token": bound["csrf"]})
        assert "is bound to" in relayed.json()["error"]["message"]
        context.close()
    assert tuple(ledger.call(ledger.commitments.functions.policy())) == (5400, 86400)
