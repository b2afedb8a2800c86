"""Role tokens and access control (node/access/): tokens that must not verify (expired, not
yet valid, tampered, another issuer, alg none, HS256 keyed with the public key, revoked,
unknown role), the role table, every JSON-RPC route classified, the address-bound
refinements with real signed transactions, the authorizer's modes, and the blob routes."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account
from fastapi import FastAPI, Request

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works fine here
    warnings.filterwarnings("ignore", message=".*httpx")
    from fastapi.testclient import TestClient

from chaincode import ROLES
from node.access import roles, tokens
from node.access.http import ANONYMOUS_ADMIN, LEEWAY_SECONDS, Authorizer, Principal, principal_for, verify_token
from node.access.roles import METHOD_PERMISSIONS, ROLE_PERMISSIONS, RoleDenied, parse_role, resolve_auth_mode
from node.access.tokens import RevocationList, TokenStore, issue_token, key_id
from node.errors import ConfigError, NotFound, PermissionDenied, Unauthenticated
from node.rpc.methods import ROUTES
from node.rpc.rest.routes import add_blob_routes
from node.storage.blobs import BlobStore

NOW = 1_800_000_000
ISSUER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
KID = key_id(ISSUER.public_key())
ISSUERS = {KID: ISSUER.public_key()}
CHAIN_ID = 4242
ALICE = Account.from_key(b"\x0a" * 32)
BOB = Account.from_key(b"\x0b" * 32)
ALICE_ADDRESS = bytes.fromhex(ALICE.address[2:])
JTI = "0123456789abcdef0123456789abcdef"


def token(role: str = "AUDITOR", *, key: Ed25519PrivateKey = ISSUER, address: bytes | None = None,
          now: int = NOW, ttl: int = 3600, jti: str = JTI) -> str:
    return issue_token(key, role=role, subject="Audit Office", address=address, now=now, ttl=ttl, token_id=jti)[0]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(document: dict[str, Any]) -> str:
    return b64(json.dumps(document, separators=(",", ":")).encode())


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": KID, "sub": "Audit Office", "role": "AUDITOR", "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
            "jti": JTI}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(payload: dict[str, Any], key: Ed25519PrivateKey = ISSUER, kid: str = KID) -> str:
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid})


def raw_tx(account: Any, nonce: int = 0) -> str:
    tx = account.sign_transaction({"to": "0x" + "33" * 20, "value": 0, "gas": 21_000, "gasPrice": 0,
                                   "nonce": nonce, "chainId": CHAIN_ID})
    return "0x" + tx.raw_transaction.hex()


# -- issue and verify ------------------------------------------------------------------------


def test_issue_then_verify_round_trips() -> None:
    text, issued = issue_token(ISSUER, role="party", subject="Bidder Ltd", address=ALICE_ADDRESS, now=NOW,
                               ttl=600, token_id=JTI)
    header = jwt.get_unverified_header(text)
    assert header["alg"] == "EdDSA" and header["kid"] == KID
    assert KID == hashlib.sha256(ISSUER.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()[:16]
    payload = jwt.decode(text, ISSUER.public_key(), algorithms=["EdDSA"], options={"verify_exp": False,
                         "verify_iat": False, "verify_nbf": False})
    assert payload == {"iss": KID, "sub": "Bidder Ltd", "role": "PARTY", "iat": NOW, "nbf": NOW,
                       "exp": NOW + 600, "jti": JTI, "addr": "0x" + ALICE_ADDRESS.hex()}
    principal = verify_token(text, ISSUERS, now=NOW + 10)
    assert principal == Principal("PARTY", "Bidder Ltd", ALICE_ADDRESS, JTI)
    assert issued.record() == {"jti": JTI, "role": "PARTY", "sub": "Bidder Ltd", "addr": "0x" + ALICE_ADDRESS.hex(),
                               "iat": NOW, "exp": NOW + 600}


def test_expired_within_and_beyond_the_leeway() -> None:
    text = token(ttl=3600)
    verify_token(text, ISSUERS, now=NOW + 3600 + LEEWAY_SECONDS - 1)
    with pytest.raises(Unauthenticated, match="expired"):
        verify_token(text, ISSUERS, now=NOW + 3600 + LEEWAY_SECONDS)


def test_not_yet_valid() -> None:
    text = token(now=NOW + 1000)
    verify_token(text, ISSUERS, now=NOW + 1000 - LEEWAY_SECONDS)
    with pytest.raises(Unauthenticated, match="not yet valid"):
        verify_token(text, ISSUERS, now=NOW + 1000 - LEEWAY_SECONDS - 1)
    with pytest.raises(Unauthenticated, match="not yet valid"):  # nbf alone in the future
        verify_token(signed(claims(nbf=NOW + 500)), ISSUERS, now=NOW)


def test_tampered_payload_fails_the_signature() -> None:
    header, _, signature = token().split(".")
    forged = b64json(claims(role="ADMIN"))
    with pytest.raises(Unauthenticated, match="signature"):
        verify_token(f"{header}.{forged}.{signature}", ISSUERS, now=NOW)
    with pytest.raises(Unauthenticated, match="signature"):  # a flipped signature byte
        sig = bytearray(base64.urlsafe_b64decode(signature + "=="))
        sig[0] ^= 1
        verify_token(f"{header}.{token().split('.')[1]}.{b64(bytes(sig))}", ISSUERS, now=NOW)


def test_another_issuers_token_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="unknown issuer"):
        verify_token(token(key=OTHER), ISSUERS, now=NOW)
    # Signed by another key but claiming our key id: the signature does not verify.
    with pytest.raises(Unauthenticated, match="signature"):
        verify_token(signed(claims(), key=OTHER, kid=KID), ISSUERS, now=NOW)
    # Trusting that issuer too makes its token good.
    both = {**ISSUERS, key_id(OTHER.public_key()): OTHER.public_key()}
    assert verify_token(token(key=OTHER), both, now=NOW).role == "AUDITOR"


def test_alg_none_is_refused() -> None:
    unsigned = f"{b64json({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{b64json(claims(role='ADMIN'))}."
    with pytest.raises(Unauthenticated, match="algorithm"):
        verify_token(unsigned, ISSUERS, now=NOW)


@pytest.mark.parametrize("secret", [
    ISSUER.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    ISSUER.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
])
def test_hs256_keyed_with_the_public_key_is_refused(secret: bytes) -> None:
    """The classic key-confusion forgery: HMAC with the (public) verification key."""
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': KID})}.{b64json(claims(role='ADMIN'))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthenticated, match="algorithm"):
        verify_token(f"{signing_input}.{b64(mac)}", ISSUERS, now=NOW)


def test_unknown_role_is_refused_at_issue_and_at_verify() -> None:
    with pytest.raises(ConfigError) as caught:
        token(role="KING")
    assert caught.value.field == "role"
    with pytest.raises(Unauthenticated, match="unknown role"):
        verify_token(signed(claims(role="KING")), ISSUERS, now=NOW)
    with pytest.raises(Unauthenticated, match="unknown role"):
        verify_token(signed(claims(role="auditor")), ISSUERS, now=NOW)  # tokens carry the canonical name


def test_party_needs_an_address() -> None:
    with pytest.raises(ConfigError) as caught:
        token(role="PARTY")
    assert caught.value.field == "address"
    with pytest.raises(Unauthenticated, match="addr"):
        verify_token(signed(claims(role="PARTY")), ISSUERS, now=NOW)
    with pytest.raises(Unauthenticated, match="addr"):
        verify_token(signed(claims(role="PARTY", addr="0x1234")), ISSUERS, now=NOW)


@pytest.mark.parametrize("missing", ["iss", "sub", "role", "iat", "exp", "jti"])
def test_required_claims(missing: str) -> None:
    with pytest.raises(Unauthenticated, match=missing):
        verify_token(signed(claims(**{missing: None})), ISSUERS, now=NOW)


@pytest.mark.parametrize("bad", [
    {"iss": "0000000000000000"}, {"exp": "tomorrow"}, {"exp": True}, {"jti": "short"}, {"sub": ""},
])
def test_malformed_claims_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated):
        verify_token(signed(claims(**bad)), ISSUERS, now=NOW)


@pytest.mark.parametrize("text", ["", "a.b", "not a jwt", "a" * 5000, "e30.e30.e30"])
def test_garbage_is_unauthenticated_not_a_crash(text: str) -> None:
    with pytest.raises(Unauthenticated):
        verify_token(text, ISSUERS, now=NOW)


@pytest.mark.parametrize("given, role", [
    ("regulator", "REGULATOR"), ("trading-center", "TRADING_CENTER"), ("trading_center", "TRADING_CENTER"),
    ("Trading-Center", "TRADING_CENTER"), (" AUDITOR ", "AUDITOR"),
])
def test_roles_are_accepted_in_any_case(given: str, role: str) -> None:
    assert parse_role(given) == role


def test_ttl_parsing() -> None:
    assert [tokens.parse_ttl(t) for t in ("90d", "12h", "30m", "3600s", "45")] == [90 * 86400, 43200, 1800, 3600, 45]
    for bad in ("0s", "3y", "", "-1d", "10000d"):
        with pytest.raises(ConfigError):
            tokens.parse_ttl(bad)


# -- the permission tables ---------------------------------------------------------------------


def test_every_route_is_classified() -> None:
    """A new JSON-RPC method must be placed in a group before anyone but ADMIN may call it."""
    unclassified = sorted(set(ROUTES) - set(METHOD_PERMISSIONS))
    assert not unclassified, f"add these methods to node.access.roles.METHOD_PERMISSIONS: {unclassified}"
    # The table names no method the node does not serve (the WebSocket's own two aside).
    assert set(METHOD_PERMISSIONS) - set(ROUTES) == {"eth_subscribe", "eth_unsubscribe"}
    assert set(METHOD_PERMISSIONS.values()) == {"rpc:public", "rpc:send", "rpc:read", "rpc:admin"}


EXPECTED = {
    "ADMIN": set(roles.PERMISSIONS),
    "TRADING_CENTER": {"rpc:public", "rpc:send", "rpc:read", "blobs:read", "blobs:write", "chain:read",
                       "contracts:read", "evidence:read", "evidence:write", "commitments:read"},
    "COURT": {"rpc:public", "rpc:send", "rpc:read", "blobs:read", "blobs:write", "chain:read", "contracts:read",
              "evidence:read", "evidence:write", "commitments:read"},
    "NOTARY": {"rpc:public", "rpc:send", "rpc:read", "blobs:read", "blobs:write", "chain:read", "contracts:read",
               "evidence:read", "evidence:write"},
    "AUDITOR": {"rpc:public", "rpc:read", "blobs:read", "chain:read", "chain:verify", "contracts:read", "evidence:read",
                "commitments:read"},
    "REGULATOR": {"rpc:public", "rpc:send", "chain:read", "contracts:read", "commitments:read"},
    "PARTY": {"rpc:public", "rpc:send", "blobs:read", "chain:read", "contracts:read-own"},
}


def test_role_table_is_the_documented_one() -> None:
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    assert {role: set(perms) for role, perms in ROLE_PERMISSIONS.items()} == EXPECTED
    assert "rpc:admin" in roles.PERMISSIONS and "rpc:admin" not in set().union(
        *(EXPECTED[r] for r in ROLES if r != "ADMIN"))


def principal(role: str, address: bytes | None = None) -> Principal:
    return Principal(role, f"test {role}", address, JTI)


# (role, method, params, allowed)
CALLS = [
    ("REGULATOR", "eth_getLogs", [{}], False),
    ("PARTY", "eth_getLogs", [{}], False),
    ("AUDITOR", "eth_getLogs", [{}], True),
    ("COURT", "eth_getLogs", [{}], True),
    ("AUDITOR", "eth_call", [{"to": "0x" + "00" * 20}], True),       # rpc:read covers the rpc:send reads
    ("AUDITOR", "eth_getTransactionReceipt", ["0x" + "ab" * 32], True),
    ("REGULATOR", "eth_call", [{"to": "0x" + "00" * 20}], True),
    ("REGULATOR", "eth_getBlockByNumber", ["latest", False], True),
    ("REGULATOR", "eth_getBlockByNumber", ["latest", True], False),  # every sender's calldata
    ("AUDITOR", "eth_getBlockByNumber", ["latest", True], True),
    ("REGULATOR", "eth_getBlockByHash", ["0x" + "ab" * 32, False], False),
    ("REGULATOR", "debug_getRawBlock", ["0x1"], False),
    ("NOTARY", "debug_getRawBlock", ["0x1"], True),
    ("TRADING_CENTER", "qbft_proposeValidatorVote", ["0x" + "11" * 20, True], False),
    ("COURT", "evm_increaseTime", [60], False),
    ("ADMIN", "qbft_proposeValidatorVote", ["0x" + "11" * 20, True], True),
    ("ADMIN", "eth_notInTheTable", [], True),
    ("COURT", "eth_notInTheTable", [], False),
    ("PARTY", "eth_subscribe", ["newHeads"], True),
    ("PARTY", "eth_subscribe", ["logs", {}], False),
    ("REGULATOR", "eth_subscribe", ["logs", {}], False),
    ("AUDITOR", "eth_subscribe", ["logs", {}], True),
    ("PARTY", "eth_unsubscribe", ["0x01"], True),
    ("PARTY", "eth_chainId", [], True),
]


@pytest.mark.parametrize("role, method, params, allowed", CALLS)
def test_may_call(role: str, method: str, params: list[Any], allowed: bool) -> None:
    who = principal(role, ALICE_ADDRESS if role == "PARTY" else None)
    if allowed:
        who.may_call(method, params, sender_of=lambda h: None)
    else:
        with pytest.raises(RoleDenied) as caught:
            who.may_call(method, params, sender_of=lambda h: None)
        assert f"role {role} may not call {method}" in str(caught.value)
        assert isinstance(caught.value, PermissionDenied)


def test_require_names_role_and_permission() -> None:
    principal("AUDITOR").require("blobs:read")
    with pytest.raises(RoleDenied, match="role AUDITOR may not use blobs:write"):
        principal("AUDITOR").require("blobs:write")
    assert ANONYMOUS_ADMIN.may("blobs:write") and ANONYMOUS_ADMIN.anonymous


def test_auditor_may_not_send_but_a_trading_center_may() -> None:
    with pytest.raises(RoleDenied, match="rpc:send"):
        principal("AUDITOR").may_call("eth_sendRawTransaction", [raw_tx(ALICE)])
    principal("TRADING_CENTER").may_call("eth_sendRawTransaction", [raw_tx(ALICE)])


def test_address_bound_token_sends_only_its_own_transactions() -> None:
    party = principal("PARTY", ALICE_ADDRESS)
    party.may_call("eth_sendRawTransaction", [raw_tx(ALICE)])
    with pytest.raises(RoleDenied, match=BOB.address[2:].lower()):
        party.may_call("eth_sendRawTransaction", [raw_tx(BOB)])
    for garbage in ([], ["0x"], ["0xzz"], ["0x" + "c0"], [raw_tx(ALICE)[:-4]], [12]):
        with pytest.raises(PermissionDenied):
            party.may_call("eth_sendRawTransaction", garbage)
    # The binding holds for any role that carries an address, not only PARTY.
    center = principal("TRADING_CENTER", ALICE_ADDRESS)
    with pytest.raises(RoleDenied):
        center.may_call("eth_sendRawTransaction", [raw_tx(BOB)])


def test_address_bound_token_reads_only_its_own_receipts() -> None:
    party = principal("PARTY", ALICE_ADDRESS)
    known = {b"\x01" * 32: ALICE_ADDRESS, b"\x02" * 32: bytes.fromhex(BOB.address[2:])}
    lookup = known.get
    for method in ("eth_getTransactionReceipt", "eth_getTransactionByHash"):
        party.may_call(method, ["0x" + "01" * 32], sender_of=lookup)
        party.may_call(method, ["0x" + "03" * 32], sender_of=lookup)  # unknown: the answer is null
        with pytest.raises(RoleDenied, match="not from"):
            party.may_call(method, ["0x" + "02" * 32], sender_of=lookup)
        with pytest.raises(RoleDenied):  # without a lookup the node cannot tell: refused
            party.may_call(method, ["0x" + "01" * 32])
        with pytest.raises(RoleDenied):
            party.may_call(method, ["0x01"], sender_of=lookup)
        # rpc:read reads anyone's; an unbound rpc:send token too.
        principal("COURT", ALICE_ADDRESS).may_call(method, ["0x" + "02" * 32])
        principal("REGULATOR").may_call(method, ["0x" + "02" * 32])


# -- modes, files and the authorizer ---------------------------------------------------------


@pytest.mark.parametrize("mode, dev, host, resolved", [
    ("auto", True, "127.0.0.1", "off"), ("auto", True, "127.8.9.10", "off"), ("auto", True, "::1", "off"),
    ("auto", True, "[::1]", "off"), ("auto", True, "localhost", "off"), ("auto", True, "0.0.0.0", "required"),
    ("auto", True, "10.0.0.5", "required"), ("auto", True, "node.example.org", "required"),
    ("auto", False, "127.0.0.1", "required"), ("off", False, "0.0.0.0", "off"),
    ("required", True, "127.0.0.1", "required"),
])
def test_auth_modes(mode: str, dev: bool, host: str, resolved: str) -> None:
    assert resolve_auth_mode(mode, dev=dev, host=host) == resolved


def test_unknown_auth_mode() -> None:
    with pytest.raises(ConfigError):
        resolve_auth_mode("sometimes", dev=True, host="127.0.0.1")


def test_authorizer_modes_and_headers() -> None:
    good = token()
    required = Authorizer("required", ISSUERS, clock=lambda: NOW)
    off = Authorizer("off", ISSUERS, clock=lambda: NOW)
    assert required.identify(None, None) is None
    with pytest.raises(Unauthenticated, match="requires a bearer token"):
        required.authenticate(None, None)
    assert off.authenticate(None, None) is ANONYMOUS_ADMIN
    for authorizer in (required, off):  # a presented token applies in both modes
        assert authorizer.authenticate(f"Bearer {good}", None).role == "AUDITOR"
        assert authorizer.authenticate(f"bearer  {good} ", None).role == "AUDITOR"
        assert authorizer.authenticate(None, good).role == "AUDITOR"  # ?token= for browsers
        with pytest.raises(Unauthenticated):
            authorizer.authenticate(f"Bearer {token(key=OTHER)}", None)
        with pytest.raises(Unauthenticated, match="Bearer"):
            authorizer.authenticate(f"Basic {good}", None)
    # The header wins over the query parameter.
    assert required.authenticate(f"Bearer {good}", token(key=OTHER)).role == "AUDITOR"


def test_store_creates_one_private_key_and_records_no_tokens(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    text, issued = store.issue("court", "Intermediate People's Court", None, 3600, now=NOW)
    assert stat.S_IMODE(store.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    again = TokenStore(tmp_path).issuer_key()  # a second opener gets the same key
    assert private(again) == private(store.issuer_key())
    assert tokens.load_public_key(store.dir / tokens.ISSUER_PUB_FILE) == store.public_key()
    record_text = (store.dir / tokens.ISSUED_FILE).read_text()
    assert text not in record_text and text.split(".")[2] not in record_text
    assert store.records() == [issued.record()]


def private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def test_revocation_is_read_again_when_the_file_changes(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    first, one = store.issue("auditor", "a", None, 3600)
    second, two = store.issue("auditor", "b", None, 3600)
    authorizer = Authorizer.from_data_dir(tmp_path, "required")
    assert authorizer.authenticate(f"Bearer {first}", None).token_id == one.token_id
    assert store.revoke(one.token_id) is True
    assert store.revoke(one.token_id) is False  # idempotent
    with pytest.raises(Unauthenticated, match="revoked"):
        authorizer.authenticate(f"Bearer {first}", None)  # the same authorizer: no restart
    assert authorizer.authenticate(f"Bearer {second}", None).token_id == two.token_id
    # A rewrite of the file (another tool, a restore) is seen too, even at the same size.
    path = store.revoked_path
    path.write_text(two.token_id + "\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))
    assert authorizer.authenticate(f"Bearer {first}", None).token_id == one.token_id
    with pytest.raises(Unauthenticated, match="revoked"):
        authorizer.authenticate(f"Bearer {second}", None)
    with pytest.raises(NotFound):
        store.revoke("f" * 32)
    assert store.revoke("f" * 32, unknown_ok=True) is True
    assert "f" * 32 in RevocationList(path)


def test_extra_issuers_are_trusted(tmp_path: Path) -> None:
    (tmp_path / "center").mkdir()
    (tmp_path / "node").mkdir()
    center = TokenStore(tmp_path / "center")
    text, _ = center.issue("regulator", "Housing Bureau", None, 3600)
    alone = Authorizer.from_data_dir(tmp_path / "node", "required")
    with pytest.raises(Unauthenticated, match="unknown issuer"):
        alone.authenticate(f"Bearer {text}", None)
    trusting = Authorizer.from_data_dir(tmp_path / "node", "required", [center.dir / tokens.ISSUER_PUB_FILE])
    assert trusting.authenticate(f"Bearer {text}", None).role == "REGULATOR"
    (tmp_path / "not-a-key.pem").write_text("hello")
    with pytest.raises(ConfigError):
        Authorizer.from_data_dir(tmp_path / "node", "required", [tmp_path / "not-a-key.pem"])


# -- HTTP: principal_for and the blob routes ---------------------------------------------------


@pytest.fixture
def http(tmp_path: Path) -> Iterator[tuple[TestClient, TokenStore]]:
    (tmp_path / "node").mkdir()
    store = TokenStore(tmp_path / "node")
    app = FastAPI()
    app.state.authorizer = Authorizer.from_data_dir(tmp_path / "node", "required")
    add_blob_routes(app, BlobStore(tmp_path / "blobs"), app.state.authorizer)

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        try:
            who = principal_for(request)
        except Unauthenticated as exc:
            return {"error": exc.reason}
        return {"role": who.role, "subject": who.subject}

    with TestClient(app) as client:
        yield client, store


def bearer(store: TokenStore, role: str, address: bytes | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer " + store.issue(role, role.lower(), address, 3600)[0]}


def test_principal_for_reads_header_or_query(http: tuple[TestClient, TokenStore]) -> None:
    client, store = http
    assert client.get("/whoami", headers=bearer(store, "notary")).json() == {"role": "NOTARY", "subject": "notary"}
    query = bearer(store, "court")["Authorization"].split()[1]
    assert client.get("/whoami", params={"token": query}).json()["role"] == "COURT"
    assert "requires a bearer token" in client.get("/whoami").json()["error"]
    bare = FastAPI()

    @bare.get("/")
    async def root(request: Request) -> str:
        principal_for(request)
        return "open"

    with TestClient(bare, raise_server_exceptions=False) as client:
        assert client.get("/").status_code == 500  # no authorizer on the app: closed, not open


def test_blob_routes_check_blobs_read_and_write(http: tuple[TestClient, TokenStore]) -> None:
    client, store = http
    data = b"sealed envelope"
    name = hashlib.sha256(data).hexdigest()
    refused = client.put("/v1/blobs", content=data)
    assert refused.status_code == 401 and "Unauthorized" in refused.json()["detail"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    for role in ("auditor", "regulator"):
        forbidden = client.put("/v1/blobs", content=data, headers=bearer(store, role))
        assert forbidden.status_code == 403, role
        assert f"role {role.upper()} may not use blobs:write" in forbidden.json()["detail"]
    assert client.put("/v1/blobs", content=data, headers=bearer(store, "trading-center")).status_code == 201
    assert client.get(f"/v1/blobs/{name}").status_code == 401
    assert client.get(f"/v1/blobs/{name}", headers=bearer(store, "regulator")).status_code == 403
    for role, address in (("auditor", None), ("party", ALICE_ADDRESS), ("court", None)):
        reply = client.get(f"/v1/blobs/{name}", headers=bearer(store, role, address))
        assert reply.status_code == 200 and reply.content == data, role


def test_an_outside_issuer_cannot_mint_admin_tokens(tmp_path: Path) -> None:
    """A node trusts other organisations' issuers for their users' roles, never to
    administer it: their ADMIN tokens are refused, other roles pass."""
    other_pub = tmp_path / "other.pub"
    other_pub.write_bytes(tokens.public_pem(OTHER.public_key()))
    authorizer = Authorizer.from_data_dir(tmp_path / "data", "required", [other_pub])
    authorizer.clock = lambda: NOW
    assert authorizer.verify(token("REGULATOR", key=OTHER)).role == "REGULATOR"
    with pytest.raises(Unauthenticated, match="own issuer"):
        authorizer.verify(token("ADMIN", key=OTHER))
    own, _ = tokens.TokenStore(tmp_path / "data").issue("ADMIN", "operator", None, 3600, now=NOW)
    assert authorizer.verify(own).role == "ADMIN"
