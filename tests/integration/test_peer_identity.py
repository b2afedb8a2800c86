"""On real node processes (a two-validator `ledger cluster`): a holder of a consortium
certificate cannot speak as another node. Each attempt below is refused, the refusal is in
the node's log, the real peer stays connected with its certified validator address, and
the chain keeps finalising (two validators: both are needed for every block).

- a certificate for "intruder" whose HELLO says it is validator-1;
- a certificate without a validator binding whose HELLO claims validator-1's address;
- a second certificate for validator-1 (the CA issued the name twice), bound to its
  address: a second connection for a live name, refused while the first answers."""
from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.network.connection import read_frame
from node.network.frames import Hello, Kind, encode_frame, encode_hello
from node.network.tls import tls_contexts
from node.network.tlscerts import issue_node_certificate, load_consortium_ca, write_certificate, write_private_key
from node.ops.cluster.layout import CA_CERT_FILE, CA_KEY_FILE
from tests.cluster.harness import Cluster, running_cluster, wait_for

pytestmark = pytest.mark.slow

DEADLINE = 60.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory, "identity", validators=2) as c:
        yield c


def peers_of(cluster: Cluster, name: str) -> dict[str, str | None]:
    return {p["name"]: p["address"] for p in cluster.call(name, "ledger_nodeStatus")["peers"]}


def client_context(cluster: Cluster, tmp: Path, cert_name: str, validator: bytes | None) -> ssl.SSLContext:
    ca = load_consortium_ca(cluster.dir / CA_CERT_FILE, cluster.dir / CA_KEY_FILE)
    issued = issue_node_certificate(ca, cert_name, now=datetime.now(UTC) - timedelta(minutes=1), validator=validator)
    directory = tmp / f"{cert_name}-{validator.hex() if validator else 'unbound'}"
    write_certificate(directory / "node.crt", issued.certificate)
    write_private_key(directory / "node.key", issued.key)
    _, client = tls_contexts(directory / "node.crt", directory / "node.key", ca.certificate_pem())
    return client


async def attempt(port: int, context: ssl.SSLContext, hello: Hello) -> bool:
    """Dial, say `hello`, and read until the node closes the connection: True if it did."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="")
    try:
        writer.write(encode_frame(Kind.HELLO, 0, encode_hello(hello)))
        await writer.drain()
        frame = await asyncio.wait_for(read_frame(reader), DEADLINE)
        assert frame.kind is Kind.HELLO                    # the node speaks first, then decides
        while await asyncio.wait_for(reader.read(65536), DEADLINE):
            pass
        return True
    except (ConnectionError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
        return True
    finally:
        writer.transport.abort()


@pytest.mark.parametrize("case", ["misnamed", "unbound claim", "second connection"])
def test_impersonation_refused_and_the_real_peer_stays(cluster: Cluster, tmp_path: Path, case: str) -> None:
    layout = cluster.layout
    target, real = layout.node("validator-0"), layout.node("validator-1")
    assert real.address is not None
    wait_for("validator-0 to be connected to validator-1",
             lambda: peers_of(cluster, "validator-0").get("validator-1") == "0x" + real.address.hex(), DEADLINE)
    genesis_hash = bytes.fromhex(cluster.call("validator-0", "eth_getBlockByNumber", "0x0", False)["hash"][2:])
    head = bytes.fromhex(cluster.call("validator-0", "eth_getBlockByNumber", "latest", False)["hash"][2:])
    cert_name, hello_name, bound, expected_log = {
        "misnamed": ("intruder", "validator-1", None, "HELLO name 'validator-1' is not the certificate's 'intruder'"),
        "unbound claim": ("intruder", "intruder", None,
                          f"intruder claims validator 0x{real.address.hex()} but its certificate binds no validator"),
        "second connection": ("validator-1", "validator-1", real.address, "second connection for validator-1"),
    }[case]
    context = client_context(cluster, tmp_path, cert_name, bound)
    hello = Hello(layout.chain_id, genesis_hash, hello_name, real.address, 0, head)
    assert asyncio.run(attempt(target.p2p_port, context, hello))
    wait_for(f"validator-0 to log {expected_log!r}", lambda: expected_log in target.log_path.read_text(), DEADLINE)

    # The real validator-1 is still the one connected, with its certified address, and
    # both validators still finalise blocks.
    assert peers_of(cluster, "validator-0").get("validator-1") == "0x" + real.address.hex()
    assert "intruder" not in peers_of(cluster, "validator-0")
    receipts = cluster.receipts(cluster.send(2), "validator-1", DEADLINE)
    assert all(int(r["status"], 16) == 1 for r in receipts)
    cluster.assert_safety()
