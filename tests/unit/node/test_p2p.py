"""The p2p transport over real sockets on 127.0.0.1 with real TLS 1.3: mesh, requests,
refusals (CA, EKU, TLS version, genesis), reconnect, dedup, bounds and injected faults."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from client import devpki
from node.network.connection import Limits, Peer, PeerError, read_frame
from node.network.faults import Faults
from node.network.frames import MAX_FRAME, Hello, Kind, encode_frame, encode_hello
from node.network.peers import PeerNetwork
from node.network.tls import tls_contexts

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=3650)
CHAIN_ID = 4242
GENESIS = hashlib.sha256(b"genesis").digest()
HEAD = hashlib.sha256(b"head").digest()
BOTH = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
DEADLINE = 10.0
PING = 250   # request code the test handler answers at once: a barrier behind earlier frames


# --- certificates ---------------------------------------------------------------------

@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: devpki.PrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@functools.cache
def authority(name: str) -> Authority:
    key = devpki.generate_key("p256")
    return Authority(devpki.make_root(name, key, not_before=NOT_BEFORE, not_after=NOT_AFTER), key)


CONSORTIUM = "Consortium Node CA"


def validator_of(name: str) -> bytes:
    """The validator address node `name` claims in its HELLO (and its certificate binds)."""
    return hashlib.sha256(name.encode()).digest()[:20]


@functools.cache
def identity(name: str, ca: str = CONSORTIUM, usages: tuple[x509.ObjectIdentifier, ...] | None = BOTH,
             validator: bytes | None = None, copy: int = 0) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for node `name` issued by `ca`; usages None: no EKU;
    `validator`: the address bound as a SAN URI (node/network/tlscerts.py); `copy` > 0: another
    certificate (own key) for the same name."""
    issuer = authority(ca)
    key = devpki.generate_key("p256")
    extra: list[tuple[x509.ExtensionType, bool]] = [] if usages is None else [(x509.ExtendedKeyUsage(list(usages)), False)]
    if validator is not None:
        extra.append((x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier("urn:evidence-ledger:validator:0x" + validator.hex())]), False))
    cert = devpki.issue_certificate(
        issuer.cert, issuer.key, key.public_key(), common_name=name, key_usage={"digital_signature"},
        not_before=NOT_BEFORE, not_after=NOT_AFTER, extra_extensions=extra)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def contexts(tmp: Path, name: str, *, ca: str = CONSORTIUM, usages: tuple[x509.ObjectIdentifier, ...] | None = BOTH,
             trust: str = CONSORTIUM, validator: bytes | None = None, copy: int = 0
             ) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert_pem, key_pem = identity(name, ca, usages, validator, copy)
    label = f"{name}-{ca}-{usages!r}-{validator.hex() if validator else ''}-{copy}"
    directory = tmp / hashlib.sha256(label.encode()).hexdigest()[:16]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(key_pem)
    return tls_contexts(directory / "cert.pem", directory / "key.pem", authority(trust).pem)


# --- harness ----------------------------------------------------------------------------

@dataclass
class Node:
    """A PeerNetwork plus what its callbacks saw."""

    name: str
    net: PeerNetwork
    messages: list[tuple[str, int, bytes, float]] = field(default_factory=list)
    statuses: list[tuple[str, int, bytes]] = field(default_factory=list)

    def peer(self, name: str) -> Peer:
        for peer in self.net.peers():
            if peer.name == name:
                return peer
        raise AssertionError(f"{self.name} is not connected to {name}; peers: {self.names()}")

    def names(self) -> list[str]:
        return [peer.name for peer in self.net.peers()]

    def payloads(self) -> list[bytes]:
        return [payload for _, _, payload, _ in self.messages]


async def answer(peer: Peer, code: int, payload: bytes) -> bytes:
    if code == PING:
        return b"pong"
    return b"re:" + payload


def make_node(
    tmp: Path,
    name: str,
    *,
    port: int = 0,
    peers: Iterable[int] = (),
    listen: bool = True,
    chain_id: int = CHAIN_ID,
    genesis: bytes = GENESIS,
    hello_name: str | None = None,
    faults: Faults | None = None,
    limits: Limits = Limits(),
    on_request: Callable[[Peer, int, bytes], Awaitable[bytes]] = answer,
    ca: str = CONSORTIUM,
    usages: tuple[x509.ObjectIdentifier, ...] | None = BOTH,
    copy: int = 0,
) -> Node:
    validator = validator_of(name)
    server_ssl, client_ssl = contexts(tmp, name, ca=ca, usages=usages, validator=validator, copy=copy)
    node: Node

    def hello() -> Hello:
        return Hello(chain_id, genesis, hello_name or name, validator, 1, HEAD)

    def on_message(peer: Peer, code: int, payload: bytes) -> None:
        node.messages.append((peer.name, code, payload, asyncio.get_running_loop().time()))

    def on_status(peer: Peer) -> None:
        node.statuses.append((peer.name, peer.height, peer.head_hash))

    net = PeerNetwork(
        hello=hello, listen=("127.0.0.1", port) if listen else None, peers=[("127.0.0.1", p) for p in peers],
        server_ssl=server_ssl, client_ssl=client_ssl, on_message=on_message, on_request=on_request,
        on_peer_status=on_status, faults=faults, limits=limits)
    node = Node(name, net)
    return node


@contextlib.asynccontextmanager
async def running(*nodes: Node, together: bool = False) -> AsyncIterator[None]:
    """Start the nodes (one after the other, or `together` so their dials cross), stop
    every one at the end."""
    try:
        if together:
            await asyncio.gather(*(node.net.start() for node in nodes))
        else:
            for node in nodes:
                await node.net.start()
        yield
    finally:
        for node in nodes:
            await node.net.stop()      # stop is a no-op for a network never started


async def until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.002)


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out for port 0, released for the networks to bind."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


async def barrier(sender: Node, receiver: str) -> None:
    """A request/response round trip: every frame queued before it has been read."""
    assert await sender.net.request(sender.peer(receiver), PING, b"", timeout=DEADLINE) == b"pong"


async def connected_pair(a: Node, b: Node) -> None:
    await until(lambda: b.name in a.names() and a.name in b.names(), f"{a.name} and {b.name} to connect")


async def raw_peer(tmp: Path, name: str, port: int, *, rcvbuf: int | None = None
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A hand-driven TLS peer with a consortium certificate that has sent and read HELLO."""
    _, client_ssl = contexts(tmp, name)
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, ssl=client_ssl, server_hostname="")
    writer.write(encode_frame(Kind.HELLO, 0, encode_hello(Hello(CHAIN_ID, GENESIS, name, None, 0, HEAD))))
    await writer.drain()
    frame = await asyncio.wait_for(read_frame(reader), DEADLINE)
    assert frame.kind is Kind.HELLO
    return reader, writer


async def closed_by_remote(reader: asyncio.StreamReader) -> bool:
    """True once the other side has closed (EOF or reset), reading whatever came first."""
    try:
        while await asyncio.wait_for(reader.read(65536), DEADLINE):
            pass
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    return True


# --- TLS ---------------------------------------------------------------------------------

def test_tls_contexts_pin_tls13_and_verify_both_ways(tmp_path: Path) -> None:
    server, client = contexts(tmp_path, "alpha")
    for context in (server, client):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_3
        assert context.maximum_version == ssl.TLSVersion.TLSv1_3
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert not context.check_hostname
        assert [ca["subject"] for ca in context.get_ca_certs()] == [((("commonName", CONSORTIUM),),)]


def test_negotiated_tls_version_is_13_and_tls12_client_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha")
        async with running(a):
            b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(b):
                await connected_pair(a, b)
                assert a.peer("bravo").tls_version == "TLSv1.3"
                assert b.peer("alpha").tls_version == "TLSv1.3"
                reader, writer = await raw_peer(tmp_path, "charlie", a.net.listen_port)
                assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
                writer.transport.abort()

                # A client that offers at most TLS 1.2 gets no session at all.
                cert_pem, key_pem = identity("delta")
                (tmp_path / "d.pem").write_bytes(cert_pem)
                (tmp_path / "d.key").write_bytes(key_pem)
                old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                old.maximum_version = ssl.TLSVersion.TLSv1_2
                old.check_hostname = False
                old.load_cert_chain(tmp_path / "d.pem", tmp_path / "d.key")
                old.load_verify_locations(cadata=authority(CONSORTIUM).pem.decode())
                failed_before = a.net.counters["tls_failed"]
                with pytest.raises((ssl.SSLError, ConnectionError)):
                    await asyncio.open_connection("127.0.0.1", a.net.listen_port, ssl=old, server_hostname="")
                await until(lambda: a.net.counters["tls_failed"] == failed_before + 1, "the TLS 1.2 refusal counted")
                assert "delta" not in a.names()

    asyncio.run(scenario())


@pytest.mark.parametrize("case", ["other CA", "no EKU", "serverAuth only"])
def test_bad_certificate_refused_both_directions(tmp_path: Path, case: str) -> None:
    """A peer whose certificate is from another CA, or lacks the TLS EKU, never gets a
    connection: neither when it dials us nor when we dial it; nothing is delivered."""
    async def scenario() -> None:
        port_a, port_r = free_ports(2)
        a = make_node(tmp_path, "alpha", port=port_a, peers=[port_r])
        if case == "other CA":
            rogue = make_node(tmp_path, "rogue", port=port_r, peers=[port_a], ca="Rogue CA")
            # alpha refuses the TLS handshake in both roles: the chain does not verify.
            expected = {"tls_failed": 2}
        elif case == "no EKU":
            rogue = make_node(tmp_path, "rogue", port=port_r, peers=[port_a], usages=None)
            # OpenSSL takes "no EKU" for "any purpose": our post-handshake check refuses it.
            expected = {"certificate_refused": 2}
        else:
            rogue = make_node(tmp_path, "rogue", port=port_r, peers=[port_a], usages=(ExtendedKeyUsageOID.SERVER_AUTH,))
            # Dialling alpha its certificate lacks clientAuth: OpenSSL refuses it in the
            # handshake. Dialled by alpha it is a valid TLS server, so that direction stands.
            expected = {"tls_failed": 1}
        async with running(a, rogue):
            await until(lambda: all(a.net.counters[k] >= v for k, v in expected.items()),
                        f"alpha to count {expected}; has {dict(a.net.counters)}")
            rogue.net.broadcast(1, b"forged")
            if case == "serverAuth only":
                await connected_pair(a, rogue)
                assert a.peer("rogue").outbound and a.net.counters["connected"] == 1
                return
            assert a.names() == [] and rogue.names() == []
            assert a.net.counters["connected"] == 0 and rogue.net.counters["connected"] == 0
        assert a.messages == []

    asyncio.run(scenario())


@pytest.mark.parametrize("field_name", ["chain_id", "genesis"])
def test_other_chain_hello_refused(tmp_path: Path, field_name: str) -> None:
    """(A HELLO whose name is not the certificate's: tests/unit/node/test_peer_identity.py.)"""
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha")
        async with running(a):
            if field_name == "chain_id":
                b = make_node(tmp_path, "bravo", peers=[a.net.listen_port], chain_id=CHAIN_ID + 1)
            else:
                b = make_node(tmp_path, "bravo", peers=[a.net.listen_port], genesis=hashlib.sha256(b"other").digest())
            async with running(b):
                await until(lambda: a.net.counters["hello_refused"] >= 1, "alpha to refuse bravo's HELLO")
                # bravo refuses alpha's HELLO just the same
                await until(lambda: b.net.counters["hello_refused"] >= 1, "bravo to refuse alpha's HELLO")
                # bravo may register alpha for the moment before alpha's refusal reaches it
                # (alpha's HELLO is fine); it never stays, and alpha never registers bravo.
                await until(lambda: b.names() == [], "bravo to see the connection closed")
                assert a.names() == [] and a.net.counters["connected"] == 0

    asyncio.run(scenario())


# --- mesh, messages, status -----------------------------------------------------------------

def test_three_node_full_mesh_keeps_one_connection_per_pair_and_exchanges_broadcasts(tmp_path: Path) -> None:
    async def scenario() -> None:
        ports = free_ports(3)
        names = ["alpha", "bravo", "charlie"]
        # Every node dials every other: each pair first has two connections.
        nodes = [make_node(tmp_path, name, port=port, peers=[p for p in ports if p != port])
                 for name, port in zip(names, ports)]
        async with running(*nodes, together=True):
            def settled() -> bool:
                return all(sorted(n.names()) == sorted(set(names) - {n.name})
                           and all(p.outbound == (n.name < p.name) for p in n.net.peers()) for n in nodes)
            await until(settled, "one connection per pair, dialled by the smaller name")
            for _i, node in enumerate(nodes):
                node.net.broadcast(7, f"from {node.name}".encode())
            for node in nodes:
                await until(lambda: len(node.messages) == 2, f"{node.name} to get two broadcasts")
                assert sorted((sender, code, payload) for sender, code, payload, _ in node.messages) == sorted(
                    (other.name, 7, f"from {other.name}".encode()) for other in nodes if other is not node)
                assert all(peer.address == validator_of(peer.name) for peer in node.net.peers())

            # exclude: charlie does not get it, bravo does.
            alpha, bravo, charlie = nodes
            alpha.net.broadcast(8, b"not for charlie", exclude=alpha.peer("charlie"))
            await until(lambda: b"not for charlie" in bravo.payloads(), "bravo to get the message")
            await barrier(alpha, "charlie")
            assert b"not for charlie" not in charlie.payloads()

            # STATUS: a new head reaches every peer and on_peer_status.
            new_head = hashlib.sha256(b"block 9").digest()
            alpha.net.announce(9, new_head)
            for node in (bravo, charlie):
                await until(lambda: node.peer("alpha").height == 9, f"{node.name} to see alpha at 9")
                assert node.peer("alpha").head_hash == new_head
                assert ("alpha", 9, new_head) in node.statuses
        assert all(n.net.peers() == [] for n in nodes)

    asyncio.run(scenario())


def test_dialling_ourselves_is_dropped_and_not_repeated(tmp_path: Path) -> None:
    async def scenario() -> None:
        port_a, port_b = free_ports(2)
        a = make_node(tmp_path, "alpha", port=port_a, peers=[port_a, port_b])
        b = make_node(tmp_path, "bravo", port=port_b)
        async with running(a, b):
            await connected_pair(a, b)
            await until(lambda: a.net.counters["self"] >= 2, "both ends of the self-connection to drop it")
            assert a.names() == ["bravo"]
            await barrier(a, "bravo")
            assert a.net.counters["self"] == 2   # one dial: the outbound and the inbound end

    asyncio.run(scenario())


def test_duplicate_messages_delivered_once_and_counted(tmp_path: Path) -> None:
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha")
        async with running(a):
            b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            c = make_node(tmp_path, "charlie", peers=[a.net.listen_port])
            async with running(b, c):
                await connected_pair(a, b)
                await connected_pair(a, c)
                b.net.send(b.peer("alpha"), 3, b"vote")
                b.net.send(b.peer("alpha"), 3, b"vote")
                b.net.broadcast(3, b"vote")
                b.net.send(b.peer("alpha"), 4, b"vote")   # another code: another message
                await barrier(b, "alpha")
                c.net.broadcast(3, b"vote")            # the same bytes from another peer
                await barrier(c, "alpha")
                assert [(s, code, p) for s, code, p, _ in a.messages] == [("bravo", 3, b"vote"), ("bravo", 4, b"vote")]
                assert a.peer("bravo").duplicates == 2 and a.peer("bravo").received == 4
                assert a.peer("charlie").duplicates == 1
                # What alpha sent itself is seen too: echoed back, it is not delivered to alpha.
                a.net.broadcast(5, b"proposal")
                await until(lambda: b"proposal" in b.payloads(), "bravo to get the proposal")
                b.net.send(b.peer("alpha"), 5, b"proposal")
                await barrier(b, "alpha")
                assert b"proposal" not in a.payloads() and a.peer("bravo").duplicates == 3

    asyncio.run(scenario())


def test_broadcast_send_and_announce_from_another_thread(tmp_path: Path) -> None:
    """A consensus thread may call them: the call moves to the loop, order kept."""
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha")
        async with running(a):
            b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(b):
                await connected_pair(a, b)
                bravo = a.peer("bravo")

                def from_thread() -> None:
                    for i in range(20):
                        a.net.broadcast(1, bytes([i]))
                    a.net.send(bravo, 2, b"direct")
                    a.net.announce(12, HEAD)

                await asyncio.to_thread(from_thread)
                await until(lambda: len(b.messages) == 21 and b.peer("alpha").height == 12, "the thread's frames")
                assert b.payloads() == [bytes([i]) for i in range(20)] + [b"direct"]

    asyncio.run(scenario())


# --- requests ---------------------------------------------------------------------------------

def test_request_response_error_timeout_busy_and_disconnect(tmp_path: Path) -> None:
    release = asyncio.Event()
    entered: list[int] = []

    async def handler(peer: Peer, code: int, payload: bytes) -> bytes:
        if code == 1:
            return b"block:" + payload + b":from:" + peer.name.encode()
        if code == 2:
            raise LookupError("no block 77")
        if code == 3:
            entered.append(code)
            await release.wait()
            return b"released"
        if code == 4:
            await asyncio.Event().wait()   # never answers
        return await answer(peer, code, payload)

    async def scenario() -> None:
        a = make_node(tmp_path, "alpha", on_request=handler, limits=Limits(inbound_requests=2))
        async with running(a):
            b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(b):
                await connected_pair(a, b)
                alpha = b.peer("alpha")
                assert await b.net.request(alpha, 1, b"7", timeout=DEADLINE) == b"block:7:from:bravo"
                big = bytes(range(256)) * 8192     # 2 MiB each way
                assert await b.net.request(alpha, 9, big, timeout=DEADLINE) == b"re:" + big

                with pytest.raises(PeerError) as error:
                    await b.net.request(alpha, 2, b"77", timeout=DEADLINE)
                assert error.value.reason == "error response" and "LookupError: no block 77" in error.value.detail

                with pytest.raises(PeerError) as error:
                    await b.net.request(alpha, 4, b"", timeout=0.2)
                assert error.value.reason == "timeout"

                # Two slow requests fill alpha's bound (the one above is still hanging
                # too, so only one more fits): the next is refused "busy" at once.
                first = asyncio.ensure_future(b.net.request(alpha, 3, b"", timeout=DEADLINE))
                await until(lambda: len(entered) == 1, "the slow request to start")
                with pytest.raises(PeerError) as error:
                    await b.net.request(alpha, 3, b"", timeout=DEADLINE)
                assert error.value.reason == "error response" and error.value.detail.startswith("busy")
                assert a.peer("bravo").requests_refused == 1
                release.set()
                assert await first == b"released"

                # A request pending when the peer goes away fails as "disconnected".
                hanging = asyncio.ensure_future(b.net.request(alpha, 4, b"", timeout=DEADLINE))
                await until(lambda: len(a.net._conns["bravo"].request_tasks) == 2, "the second hang to start")
                await a.net.stop()
                with pytest.raises(PeerError) as error:
                    await hanging
                assert error.value.reason == "disconnected"
                with pytest.raises(PeerError) as error:
                    await b.net.request(alpha, 1, b"", timeout=DEADLINE)
                assert error.value.reason == "not connected"

    asyncio.run(scenario())


# --- reconnect ----------------------------------------------------------------------------------

def test_restarted_peer_is_redialled_with_backoff(tmp_path: Path) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        port_b, = free_ports(1)
        a = make_node(tmp_path, "alpha", listen=False, peers=[port_b], limits=Limits(backoff_min=0.05))
        b = make_node(tmp_path, "bravo", port=port_b)
        async with running(a):
            async with running(b):
                await connected_pair(a, b)
                a.net.broadcast(1, b"before")
                await until(lambda: b"before" in b.payloads(), "the first message")
            await until(lambda: a.names() == [], "alpha to notice bravo is gone")
            lost = loop.time()
            failed = a.net.counters["dial_failed"]
            await until(lambda: a.net.counters["dial_failed"] >= failed + 4, "four failed redials")
            # Waits of 0.05, 0.1, 0.2, 0.4 s, each jittered to at least half: >= 0.375 s in
            # all (a fixed 0.05 s retry would be done in at most 0.2 s).
            assert loop.time() - lost >= 0.3
            b2 = make_node(tmp_path, "bravo", port=port_b)
            async with running(b2):
                await connected_pair(a, b2)
                a.net.broadcast(1, b"after")
                await until(lambda: b"after" in b2.payloads(), "a message over the new connection")
                assert a.net.counters["connected"] == 2

    asyncio.run(scenario())


# --- malformed input --------------------------------------------------------------------------------

MALFORMED = {
    "oversize length": ((MAX_FRAME + 1).to_bytes(4, "big"), "oversize"),
    "short frame": ((1).to_bytes(4, "big") + b"\x02", "malformed"),
    "unknown kind": ((2).to_bytes(4, "big") + b"\x63\x00", "malformed"),
    "second HELLO": (encode_frame(Kind.HELLO, 0, encode_hello(Hello(CHAIN_ID, GENESIS, "raw", None, 0, HEAD))), "malformed"),
    "request without id": ((3).to_bytes(4, "big") + bytes((Kind.REQUEST, 1, 0)), "malformed"),
    "STATUS not RLP": (encode_frame(Kind.STATUS, 0, b"\xff\xff"), "malformed"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_frame_disconnects_only_that_peer(tmp_path: Path, case: str) -> None:
    raw_bytes, counter = MALFORMED[case]

    async def scenario() -> None:
        a = make_node(tmp_path, "alpha")
        async with running(a):
            b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(b):
                await connected_pair(a, b)
                reader, writer = await raw_peer(tmp_path, "raw", a.net.listen_port)
                await until(lambda: "raw" in a.names(), "the raw peer to be registered")
                writer.write(raw_bytes)
                await writer.drain()
                assert await closed_by_remote(reader)
                writer.transport.abort()
                await until(lambda: "raw" not in a.names(), "alpha to drop the raw peer")
                assert a.net.counters[counter] == 1
                # alpha is unharmed and still talks to bravo.
                a.net.broadcast(2, b"still here")
                await until(lambda: b"still here" in b.payloads(), "bravo to hear from alpha")

    asyncio.run(scenario())


def test_garbage_instead_of_hello_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha")
        async with running(a):
            _, client_ssl = contexts(tmp_path, "raw")
            reader, writer = await asyncio.open_connection("127.0.0.1", a.net.listen_port, ssl=client_ssl,
                                                           server_hostname="")
            writer.write(encode_frame(Kind.HELLO, 0, b"\xc3not rlp"))
            await writer.drain()
            assert await closed_by_remote(reader)
            writer.transport.abort()
            await until(lambda: a.net.counters["hello_failed"] == 1, "alpha to refuse the HELLO")
            assert a.names() == []

    asyncio.run(scenario())


# --- bounds -------------------------------------------------------------------------------------------

def test_outbound_queue_is_bounded_under_a_peer_that_never_reads(tmp_path: Path) -> None:
    payload_size = 128 * 1024
    count = 150    # ~19 MiB: far more than socket buffers hold
    queue = 20

    async def scenario() -> None:
        a = make_node(tmp_path, "alpha", limits=Limits(outbound_queue=queue))
        async with running(a):
            c = make_node(tmp_path, "charlie", peers=[a.net.listen_port])
            async with running(c):
                await connected_pair(a, c)
                # A peer with a small receive buffer that stops reading after HELLO.
                _, writer = await raw_peer(tmp_path, "sloth", a.net.listen_port, rcvbuf=64 * 1024)
                await until(lambda: "sloth" in a.names(), "the sloth to be registered")
                sloth = a.peer("sloth")
                most_queued = 0
                for i in range(count):
                    a.net.broadcast(1, i.to_bytes(4, "big") * (payload_size // 4))
                    most_queued = max(most_queued, sloth.queued)
                    # charlie reads: it gets every message though the sloth stalls.
                    await until(lambda: len(c.messages) == i + 1, f"charlie to get message {i}")
                assert most_queued <= queue
                assert sloth.dropped > 0
                assert sloth.sent + sloth.dropped + sloth.queued == count
                assert a.peer("charlie").dropped == 0 and a.peer("charlie").sent == count
                writer.transport.abort()

    asyncio.run(scenario())


def test_peer_that_stops_reading_is_disconnected_after_write_timeout(tmp_path: Path) -> None:
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha", limits=Limits(write_timeout=0.5))
        async with running(a):
            _, writer = await raw_peer(tmp_path, "sloth", a.net.listen_port, rcvbuf=64 * 1024)
            await until(lambda: "sloth" in a.names(), "the sloth to be registered")
            for i in range(200):
                a.net.broadcast(1, i.to_bytes(4, "big") * 32768)
            await until(lambda: a.net.counters["write_stalled"] == 1, "alpha to give up on the sloth")
            await until(lambda: a.names() == [], "the sloth to be disconnected")
            writer.transport.abort()

    asyncio.run(scenario())


def test_inbound_rate_bound_drops_excess(tmp_path: Path) -> None:
    rate, burst, sent = 100.0, 50, 1000

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a = make_node(tmp_path, "alpha", limits=Limits(message_rate=rate, message_burst=burst))
        async with running(a):
            b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(b):
                await connected_pair(a, b)
                start = loop.time()
                for i in range(sent):
                    b.net.broadcast(1, i.to_bytes(4, "big"))
                await until(lambda: a.peer("bravo").received == sent, "alpha to read every message")
                elapsed = loop.time() - start
                bravo = a.peer("bravo")
                assert bravo.delivered == len(a.messages)
                assert bravo.delivered + bravo.rate_limited == sent
                assert bravo.rate_limited > 0
                # The bucket: at most its burst plus what refilled while they arrived.
                assert bravo.delivered <= burst + rate * elapsed + 1
                assert "bravo" in a.names() and a.net.counters["flood"] == 0

    asyncio.run(scenario())


def test_gross_flood_disconnects_the_peer(tmp_path: Path) -> None:
    async def scenario() -> None:
        a = make_node(tmp_path, "alpha", limits=Limits(message_rate=10, message_burst=10, flood_disconnect=100))
        async with running(a):
            b = make_node(tmp_path, "bravo", peers=[a.net.listen_port])
            async with running(b):
                await connected_pair(a, b)
                for i in range(1000):
                    b.net.broadcast(1, i.to_bytes(4, "big"))
                await until(lambda: a.net.counters["flood"] == 1, "alpha to disconnect the flooder")
                assert len(a.messages) <= 10 + 1

    asyncio.run(scenario())


# --- faults ------------------------------------------------------------------------------------------

def fault_pair(tmp_path: Path, faults: Faults) -> tuple[Node, Callable[[], Node]]:
    a = make_node(tmp_path, "alpha", faults=faults)
    return a, lambda: make_node(tmp_path, "bravo", peers=[a.net.listen_port])


def test_fault_drop_all_delivers_nothing_but_requests_still_work(tmp_path: Path) -> None:
    async def scenario() -> None:
        a, make_b = fault_pair(tmp_path, Faults(drop=1.0))
        async with running(a):
            b = make_b()
            async with running(b):
                await connected_pair(a, b)
                for i in range(50):
                    a.net.broadcast(1, bytes([i]))
                a.net.send(a.peer("bravo"), 1, b"direct")
                await barrier(a, "bravo")          # requests are not subject to faults
                assert b.messages == []
                assert a.peer("bravo").dropped == 51 and a.net.counters["fault_dropped"] == 51
                b.net.broadcast(1, b"the other way")   # faults are alpha's alone
                await until(lambda: a.payloads() == [b"the other way"], "alpha to hear bravo")

    asyncio.run(scenario())


def test_fault_duplicate_is_delivered_once_and_counted(tmp_path: Path) -> None:
    async def scenario() -> None:
        a, make_b = fault_pair(tmp_path, Faults(duplicate=True))
        async with running(a):
            b = make_b()
            async with running(b):
                await connected_pair(a, b)
                for i in range(10):
                    a.net.broadcast(1, bytes([i]))
                await barrier(a, "bravo")
                assert b.payloads() == [bytes([i]) for i in range(10)]
                assert b.peer("alpha").duplicates == 10 and b.peer("alpha").received == 20
                assert a.peer("bravo").sent == 20

    asyncio.run(scenario())


def test_fault_delay_holds_messages_but_not_requests(tmp_path: Path) -> None:
    delay = 0.3

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, make_b = fault_pair(tmp_path, Faults(delay=delay))
        async with running(a):
            b = make_b()
            async with running(b):
                await connected_pair(a, b)
                sent_at = loop.time()
                a.net.broadcast(1, b"late")
                await barrier(a, "bravo")
                if loop.time() - sent_at < delay:   # the request overtook the delayed message
                    assert b.messages == []
                await until(lambda: b.payloads() == [b"late"], "the delayed message")
                assert b.messages[0][3] - sent_at >= delay

    asyncio.run(scenario())


def test_fault_drop_is_reproducible_from_the_seed(tmp_path: Path) -> None:
    async def run_once() -> list[bytes]:
        a, make_b = fault_pair(tmp_path, Faults(drop=0.5, seed=7))
        async with running(a):
            b = make_b()
            async with running(b):
                await connected_pair(a, b)
                for i in range(64):
                    a.net.broadcast(1, bytes([i]))
                await barrier(a, "bravo")
                return b.payloads()

    first = asyncio.run(run_once())
    second = asyncio.run(run_once())
    assert 0 < len(first) < 64
    assert first == second
