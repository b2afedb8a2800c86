"""Peers are who their certificates say: the HELLO name is the certificate's commonName, a
claimed validator address is one the certificate binds (a SAN URI, node/network/tlscerts.py), and
a second connection for a connected name never silently replaces the first — while a
restarted peer, or one whose old connection went silent, gets back in at once.

Real sockets on 127.0.0.1 and real TLS 1.3, as tests/unit/node/test_p2p.py (whose
harness this reuses)."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from node.errors import ConfigError
from node.network.connection import Limits, read_frame
from node.network.frames import Hello, Kind, encode_frame, encode_hello
from node.network.peers import PeerNetwork
from node.network.tlscerts import (
    VALIDATOR_URI_PREFIX,
    CertificateBindingError,
    certificate_validator,
    issue_node_certificate,
    make_consortium_ca,
    validator_uri,
)
from tests.unit.node import test_p2p as harness
from tests.unit.node.test_p2p import (
    CHAIN_ID,
    DEADLINE,
    GENESIS,
    HEAD,
    closed_by_remote,
    connected_pair,
    make_node,
    running,
    until,
    validator_of,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OTHER = hashlib.sha256(b"someone else's validator").digest()[:20]
# Short enough for a test, long enough for a loaded 2-core machine to answer a probe.
QUICK = Limits(crossed_dial_grace=1.0, probe_timeout=2.0)


async def dial(tmp: Path, port: int, *, cert_name: str, hello_name: str | None = None,
               claim: bytes | None = None, bound: bytes | None = None, copy: int = 0
               ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A hand-driven peer: TLS with a consortium certificate for `cert_name` (binding
    `bound`), then a HELLO naming `hello_name` and claiming validator `claim`."""
    _, client_ssl = harness.contexts(tmp, cert_name, validator=bound, copy=copy)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ssl, server_hostname="")
    hello = Hello(CHAIN_ID, GENESIS, hello_name or cert_name, claim, 0, HEAD)
    writer.write(encode_frame(Kind.HELLO, 0, encode_hello(hello)))
    await writer.drain()
    return reader, writer


# --- the binding format ---------------------------------------------------------------

def test_issued_validator_certificate_carries_its_address() -> None:
    ca = make_consortium_ca("binding CA", now=NOW)
    address = bytes(range(20))
    bound = issue_node_certificate(ca, "validator-0", now=NOW, validator=address).certificate
    san = bound.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:evidence-ledger:validator:0x000102030405060708090a0b0c0d0e0f10111213"]
    assert certificate_validator(bound) == address
    assert certificate_validator(issue_node_certificate(ca, "observer-0", now=NOW).certificate) is None


@pytest.mark.parametrize("uris, expected", [
    ([validator_uri(OTHER).upper().replace("URN:EVIDENCE-LEDGER:VALIDATOR:0X", VALIDATOR_URI_PREFIX)], OTHER),
    (["https://example.org/not-ours", validator_uri(OTHER)], OTHER),
    (["https://example.org/not-ours"], None),
    ([VALIDATOR_URI_PREFIX + "12"], "malformed"),
    ([VALIDATOR_URI_PREFIX + "zz" * 20], "malformed"),
    ([validator_uri(OTHER), validator_uri(bytes(20))], "two"),
])
def test_certificate_validator_parses_strictly(uris: list[str], expected: object) -> None:
    ca = make_consortium_ca("binding CA", now=NOW)
    cert = issue_node_certificate(ca, "n", now=NOW).certificate
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris])
    builder = x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer) \
        .public_key(cert.public_key()).serial_number(1).not_valid_before(NOW).not_valid_after(NOW) \
        .add_extension(san, critical=False)
    made = builder.sign(ca.key, hashes.SHA256())
    if isinstance(expected, bytes) or expected is None:
        assert certificate_validator(made) == expected
    else:
        with pytest.raises(CertificateBindingError):
            certificate_validator(made)


# --- the HELLO speaks for the certificate -----------------------------------------------

def test_hello_naming_another_node_is_refused(tmp_path: Path) -> None:
    """charlie's certificate is valid, but its HELLO says it is bravo: refused, and the
    real bravo's connection is untouched."""
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha")
        async with running(a):
            b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(b):
                await connected_pair(a, b)
                before = a.peer("bravo")
                reader, writer = await dial(tmp_path, a.net.listen_port, cert_name="charlie", hello_name="bravo")
                try:
                    await until(lambda: a.net.counters["hello_refused"] == 1, "alpha to refuse charlie's HELLO")
                    assert await closed_by_remote(reader)
                finally:
                    writer.transport.abort()
                assert a.peer("bravo") is before and before.connected
                assert sorted(a.names()) == ["bravo"]
                await harness.barrier(b, "alpha")

    asyncio.run(scenario())


@pytest.mark.parametrize("case", ["unbound", "bound to another", "bound", "observer with a bound cert"])
def test_validator_claim_must_be_bound_by_the_certificate(tmp_path: Path, case: str) -> None:
    claimed = validator_of("charlie")
    bound, claim, accepted = {
        "unbound": (None, claimed, False),
        "bound to another": (OTHER, claimed, False),
        "bound": (claimed, claimed, True),
        "observer with a bound cert": (claimed, None, True),   # claiming less is fine
    }[case]

    async def scenario() -> None:
        a = make_node(tmp_path, "alpha")
        async with running(a):
            reader, writer = await dial(tmp_path, a.net.listen_port, cert_name="charlie", claim=claim, bound=bound)
            try:
                frame = await asyncio.wait_for(read_frame(reader), DEADLINE)   # alpha's HELLO comes first
                assert frame.kind is Kind.HELLO
                if accepted:
                    await until(lambda: a.names() == ["charlie"], "alpha to accept charlie")
                    assert a.peer("charlie").address == claim
                else:
                    await until(lambda: a.net.counters["hello_refused"] == 1, "alpha to refuse charlie's claim")
                    assert await closed_by_remote(reader)
                    assert a.names() == [] and a.net.counters["connected"] == 0
            finally:
                writer.transport.abort()

    asyncio.run(scenario())


def test_own_hello_must_match_own_certificate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A node whose HELLO name is not its certificate's would be refused by every peer:
    start says so. A validator whose certificate predates the binding still connects,
    as an observer would (its HELLO drops the claim, with a warning); consensus does not
    depend on the claim, it checks signatures."""
    async def scenario() -> None:
        misnamed = make_node(tmp_path, "bravo", hello_name="mallory")
        with pytest.raises(ConfigError, match="mallory"):
            await misnamed.net.start()
        await misnamed.net.stop()

        a = make_node(tmp_path, "alpha")
        server_ssl, client_ssl = harness.contexts(tmp_path, "charlie")          # no binding
        old = PeerNetwork(
            hello=lambda: Hello(CHAIN_ID, GENESIS, "charlie", validator_of("charlie"), 1, HEAD),
            listen=None, peers=[], server_ssl=server_ssl, client_ssl=client_ssl,
            on_message=lambda *_: None, on_request=harness.answer)
        async with running(a):
            old._static = [("127.0.0.1", a.net.listen_port)]
            with caplog.at_level(logging.WARNING, logger="ledger.p2p"):
                await old.start()
            try:
                await until(lambda: a.names() == ["charlie"], "alpha to accept charlie as an observer")
                assert a.peer("charlie").address is None
                assert any("does not bind validator address" in r.getMessage() for r in caplog.records)
            finally:
                await old.stop()

    asyncio.run(scenario())


# --- one connection per name --------------------------------------------------------------

@pytest.mark.parametrize("first", ["dialled by the peer", "dialled by us"])
def test_second_connection_with_a_live_name_is_refused(tmp_path: Path, first: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """Another valid certificate for a connected name (a CA that issued it twice, a copied
    one) dials in: it is refused, the first connection stays and keeps working.

    "dialled by us": zulu dialled alpha, and alpha < zulu, so between two connections
    *crossing* the one alpha dialled would win — an impostor's inbound connection looks
    like that, and must still not displace the live one."""
    async def scenario() -> None:
        if first == "dialled by the peer":
            target = make_node(tmp_path, "alpha", limits=QUICK)
            async with running(target):
                real = make_node(tmp_path, "bravo", peers=[target.net.listen_port])
                async with running(real):
                    await exercise(target, real)
        else:
            real = make_node(tmp_path, "alpha", listen=True)
            async with running(real):
                target = make_node(tmp_path, "zulu", peers=[real.net.listen_port], limits=QUICK)
                async with running(target):
                    await exercise(target, real)

    async def exercise(target: harness.Node, real: harness.Node) -> None:
        await connected_pair(target, real)
        before = target.peer(real.name)
        reader, writer = await dial(tmp_path, target.net.listen_port, cert_name=real.name,
                                    claim=validator_of(real.name), bound=validator_of(real.name), copy=1)
        try:
            await until(lambda: target.net.counters["duplicate_connection"] == 1,
                        f"{target.name} to refuse the second {real.name}")
            assert await closed_by_remote(reader)
        finally:
            writer.transport.abort()
        assert target.peer(real.name) is before and before.connected
        assert target.net.counters["connected"] == 1 and real.net.counters["disconnected"] == 0
        # The first connection still works both ways.
        await harness.barrier(target, real.name)
        await harness.barrier(real, target.name)
        real.net.broadcast(9, b"still here")
        await until(lambda: b"still here" in target.payloads(), "the first connection to deliver")
        assert any(r.levelno == logging.WARNING and "second connection" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.INFO, logger="ledger.p2p"):
        asyncio.run(scenario())


def test_restarted_peer_reconnects_at_once(tmp_path: Path) -> None:
    """bravo's process ends (its sockets close) and a new one with the same certificate
    dials again: alpha lets it in."""
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha", limits=QUICK)
        async with running(a):
            first = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(first):
                await connected_pair(a, first)
                old = a.peer("bravo")
            second = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(second):
                await until(lambda: "bravo" in a.names() and a.peer("bravo") is not old, "the new bravo to connect")
                await harness.barrier(second, "alpha")
                assert a.net.counters["duplicate_connection"] == 0

    asyncio.run(scenario())


def test_peer_whose_old_connection_went_silent_gets_back_in(tmp_path: Path) -> None:
    """The old connection is open but dead (a partition, a host that vanished before
    keepalive noticed): it does not answer alpha's liveness probe, so the new one
    replaces it."""
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha", limits=QUICK)
        async with running(a):
            _, writer = await dial(tmp_path, a.net.listen_port, cert_name="bravo",
                                   claim=validator_of("bravo"), bound=validator_of("bravo"))
            try:
                await until(lambda: a.names() == ["bravo"], "the silent bravo to be registered")
                silent = a.peer("bravo")           # from now on it reads nothing and answers nothing
                b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
                async with running(b):
                    await until(lambda: "bravo" in a.names() and a.peer("bravo") is not silent,
                                "the live bravo to replace the silent connection")
                    await until(lambda: not silent.connected, "the silent connection to be torn down")
                    assert a.net.counters["stale_replaced"] == 1
                    await harness.barrier(b, "alpha")
                    await harness.barrier(a, "bravo")
            finally:
                writer.transport.abort()

    asyncio.run(scenario())


def test_crossing_dials_settle_on_one_connection(tmp_path: Path) -> None:
    """Both dial each other at once, repeatedly: each pair ends with the connection the
    smaller name dialled, at both ends, and it works."""
    async def scenario() -> None:
        for round_ in range(3):
            port_a, port_b = harness.free_ports(2)
            a = make_node(tmp_path, "alpha", port=port_a, peers=[port_b], limits=QUICK)
            b = make_node(tmp_path, "bravo", port=port_b, peers=[port_a], limits=QUICK)
            async with running(a, b, together=True):
                def settled(a: harness.Node = a, b: harness.Node = b) -> bool:
                    return (a.names() == ["bravo"] and b.names() == ["alpha"]
                            and a.peer("bravo").outbound and not b.peer("alpha").outbound)
                await until(settled, f"round {round_}: one connection, dialled by alpha")
                await harness.barrier(a, "bravo")
                await harness.barrier(b, "alpha")

    asyncio.run(scenario())
