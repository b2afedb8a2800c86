"""The local testnet's files: consortium CA and node TLS certificates (checked with
cryptography's verifier and a real mutual-TLS 1.3 handshake), the cluster directory
create_cluster writes, add_node, cluster.json parsing, that a recorded pid which is
not the node's process is never signalled, ports laid out from --base-port, a node
started by hand taken in as a member, and `ledger cluster start|stop|restart`'s refusals."""
from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import ssl
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from eth_account import Account

from node.access.http import Authorizer
from node.access.tokens import TokenStore
from node.consensus.sealing import ValidatorKey
from node.errors import ConfigError, Unauthenticated
from node.execution.genesis import MAX_VALIDATORS, Genesis
from node.network.tlscerts import (
    NODE_CERT_VALIDITY,
    ConsortiumCA,
    NodeCertificate,
    issue_node_certificate,
    make_consortium_ca,
    write_certificate,
    write_private_key,
)
from node.ops.cluster import processes, status
from node.ops.cluster.create import add_node, create_cluster
from node.ops.cluster.layout import (
    ACCOUNTS_FILE,
    ADMIN_KEY_FILE,
    ADMIN_TOKEN_FILE,
    CA_CERT_FILE,
    CA_KEY_FILE,
    CLUSTER_FILE,
    TLS_CERT_FILE,
    TLS_KEY_FILE,
    load_admin_account,
    load_admin_token,
    load_cluster,
    port_free,
)
from node.ops.cluster.processes import stop_cluster, stop_node
from node.ops.cluster.status import NodeStatus, cluster_status
from node.ops.config import FAULTS_ENV, FaultConfig, load_node_config
from node.service import read_key_file

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HANDSHAKE_SECONDS = 10
PROC_DEADLINE_SECONDS = 10  # for a started process's command line to show in /proc


# -- certificates ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> ConsortiumCA:
    return make_consortium_ca("test consortium CA", now=NOW)


def test_consortium_ca_is_a_p256_ca(ca: ConsortiumCA) -> None:
    cert = ca.certificate
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    cert.verify_directly_issued_by(cert)  # self-signed
    assert cert.not_valid_before_utc == NOW


def test_node_certificate_properties(ca: ConsortiumCA) -> None:
    node = issue_node_certificate(ca, "validator-2", now=NOW)
    cert = node.certificate
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "validator-2"
    assert isinstance(node.key.curve, ec.SECP256R1)
    assert cert.public_key() == node.key.public_key()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + NODE_CERT_VALIDITY == NOW + timedelta(days=365)


def test_extra_hosts_join_the_subject_alt_names(ca: ConsortiumCA) -> None:
    cert = issue_node_certificate(ca, "n", now=NOW, hosts=("10.1.2.3", "node.example.org", "127.0.0.1")).certificate
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.1.2.3")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "node.example.org"]


def test_node_certificate_verifies_as_server_and_client_only_under_its_ca(ca: ConsortiumCA) -> None:
    cert = issue_node_certificate(ca, "validator-0", now=NOW).certificate
    builder = PolicyBuilder().store(Store([ca.certificate])).time(NOW + timedelta(days=1))
    builder.build_server_verifier(x509.verification.IPAddress(ipaddress.ip_address("127.0.0.1"))).verify(cert, [])
    builder.build_server_verifier(x509.verification.DNSName("localhost")).verify(cert, [])
    builder.build_client_verifier().verify(cert, [])
    with pytest.raises(VerificationError):
        builder.build_server_verifier(x509.verification.DNSName("elsewhere.example")).verify(cert, [])
    other = make_consortium_ca("another consortium", now=NOW)
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store([other.certificate])).time(NOW).build_client_verifier().verify(cert, [])
    with pytest.raises(VerificationError):  # a year and a day later it has expired
        PolicyBuilder().store(Store([ca.certificate])).time(NOW + timedelta(days=366)).build_client_verifier().verify(cert, [])


def _write_node(tmp: Path, name: str, node: NodeCertificate) -> tuple[Path, Path]:
    write_certificate(tmp / f"{name}.crt", node.certificate)
    write_private_key(tmp / f"{name}.key", node.key)
    return tmp / f"{name}.crt", tmp / f"{name}.key"


def _context(side: int, cert: tuple[Path, Path], ca: ConsortiumCA) -> ssl.SSLContext:
    context = ssl.SSLContext(side)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(*cert)
    context.load_verify_locations(cadata=ca.certificate_pem().decode())
    return context


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> dict[str, Any]:
    """Mutual TLS over a socket pair; what each side saw of the other, or the error."""
    left, right = socket.socketpair()
    left.settimeout(HANDSHAKE_SECONDS)
    right.settimeout(HANDSHAKE_SECONDS)
    seen: dict[str, Any] = {}

    def serve() -> None:
        try:
            with server.wrap_socket(left, server_side=True) as tls:
                seen["client_cert"] = tls.getpeercert()
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            seen["server_error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(right, server_hostname="127.0.0.1") as tls:
            seen["server_cert"] = tls.getpeercert()
            seen["reply"] = tls.recv(2)
            seen["version"] = tls.version()
    except (ssl.SSLError, OSError) as exc:
        seen["client_error"] = exc
    thread.join(HANDSHAKE_SECONDS)
    return seen


def _common_name(peer: dict[str, Any]) -> str:
    return dict(pair[0] for pair in peer["subject"])["commonName"]


def test_two_node_certificates_complete_a_mutual_tls13_handshake(tmp_path: Path, ca: ConsortiumCA) -> None:
    now = datetime.now(UTC)  # OpenSSL checks validity against the wall clock
    a = _write_node(tmp_path, "a", issue_node_certificate(ca, "validator-0", now=now - timedelta(minutes=1)))
    b = _write_node(tmp_path, "b", issue_node_certificate(ca, "validator-1", now=now - timedelta(minutes=1)))
    seen = _handshake(_context(ssl.PROTOCOL_TLS_SERVER, a, ca), _context(ssl.PROTOCOL_TLS_CLIENT, b, ca))
    assert "server_error" not in seen and "client_error" not in seen, seen
    assert seen["reply"] == b"ok" and seen["version"] == "TLSv1.3"
    assert _common_name(seen["client_cert"]) == "validator-1"
    assert _common_name(seen["server_cert"]) == "validator-0"


def test_a_peer_certificate_from_another_ca_is_refused(tmp_path: Path, ca: ConsortiumCA) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    stranger_ca = make_consortium_ca("not our consortium", now=now)
    a = _write_node(tmp_path, "a", issue_node_certificate(ca, "validator-0", now=now))
    intruder = _write_node(tmp_path, "x", issue_node_certificate(stranger_ca, "validator-0", now=now))
    # The intruder as client: the server refuses its certificate.
    seen = _handshake(_context(ssl.PROTOCOL_TLS_SERVER, a, ca), _context(ssl.PROTOCOL_TLS_CLIENT, intruder, stranger_ca))
    assert "server_error" in seen and "client_cert" not in seen
    # The intruder as server: the client refuses it.
    seen = _handshake(_context(ssl.PROTOCOL_TLS_SERVER, intruder, stranger_ca), _context(ssl.PROTOCOL_TLS_CLIENT, a, ca))
    assert "client_error" in seen and "reply" not in seen


def test_private_keys_are_written_mode_0600_and_never_overwritten(tmp_path: Path, ca: ConsortiumCA) -> None:
    write_private_key(tmp_path / "k.pem", ca.key)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    loaded = serialization.load_pem_private_key((tmp_path / "k.pem").read_bytes(), None)
    assert loaded.public_key() == ca.key.public_key()
    with pytest.raises(FileExistsError):
        write_private_key(tmp_path / "k.pem", ca.key)


# -- the cluster directory -----------------------------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cluster") / "c"
    create_cluster(directory, 3, 1, chain_id=4343, block_period=1, empty_block_period=5, request_timeout=3,
                   faults={1: FaultConfig(drop=0.5, seed=9)}, now=NOW)
    return directory


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cluster_directory_files_and_modes(made: Path) -> None:
    for name in (CLUSTER_FILE, "genesis.json", ACCOUNTS_FILE, ADMIN_KEY_FILE, CA_CERT_FILE, CA_KEY_FILE):
        assert (made / name).is_file(), name
    for secret in (ACCOUNTS_FILE, ADMIN_KEY_FILE, CA_KEY_FILE):
        assert _mode(made / secret) == 0o600, secret
    assert not list(made.parent.glob(".*partial"))
    names = sorted(p.name for p in (made / "nodes").iterdir())
    assert names == ["observer-0", "validator-0", "validator-1", "validator-2"]
    for name in names:
        data_dir = made / "nodes" / name
        assert (data_dir / "chain").is_dir()
        assert (data_dir / "node.json").is_file()
        assert (data_dir / TLS_CERT_FILE).is_file()
        assert _mode(data_dir / TLS_KEY_FILE) == 0o600
        assert (data_dir / "genesis.json").read_text() == (made / "genesis.json").read_text()
        if name.startswith("validator"):
            assert _mode(data_dir / "key") == 0o600
        else:
            assert not (data_dir / "key").exists()


def test_cluster_genesis_lists_the_validators_sorted_and_the_consortium_ca(made: Path) -> None:
    genesis = Genesis.load(made / "genesis.json")
    layout = load_cluster(made)
    keys = [ValidatorKey(read_key_file(n.data_dir / "key")).address for n in layout.validators]
    assert list(genesis.validators) == sorted(keys)
    assert keys == sorted(keys)  # validator-0 is the first in the genesis order
    assert [n.address for n in layout.validators] == keys
    assert genesis.chain_id == 4343 == layout.chain_id
    assert (genesis.qbft.block_period, genesis.qbft.empty_block_period, genesis.qbft.request_timeout) == (1, 5, 3)
    ca_cert = x509.load_pem_x509_certificate((made / CA_CERT_FILE).read_bytes())
    assert genesis.consortium_ca is not None
    assert x509.load_pem_x509_certificate(genesis.consortium_ca) == ca_cert


def test_admin_account_is_funded_member_with_its_key(made: Path) -> None:
    genesis = Genesis.load(made / "genesis.json")
    admin = load_admin_account(made)
    assert Account.from_key(admin.private_key).address == admin.address == load_cluster(made).account
    address = bytes.fromhex(admin.address[2:])
    # ... and each validator a member (AUDITOR), so its blocks raise commitment alerts
    assert [(m.address, m.role) for m in genesis.members] == [(address, "ADMIN")] + [(v, "AUDITOR") for v in genesis.validators]
    assert genesis.alloc[address].balance > 10**18
    key_file = read_key_file(made / ADMIN_KEY_FILE)
    assert "0x" + key_file.hex() == admin.private_key


def test_cluster_json_records_every_node(made: Path) -> None:
    layout = load_cluster(made)
    document = json.loads((made / CLUSTER_FILE).read_text())
    assert document["chain_id"] == 4343
    assert [(n["name"], n["kind"]) for n in document["nodes"]] == [
        ("validator-0", "validator"), ("validator-1", "validator"), ("validator-2", "validator"),
        ("observer-0", "observer")]
    assert document["nodes"][3]["address"] is None
    assert document["nodes"][0]["data_dir"] == "nodes/validator-0"
    assert all(n["pid"] is None for n in document["nodes"])
    ports = [p for n in layout.nodes for p in (n.rpc_port, n.p2p_port)]
    assert len(set(ports)) == len(ports) and all(1024 <= p <= 65535 for p in ports)
    for node, entry in zip(layout.nodes, document["nodes"]):
        assert node.rpc_url == entry["rpc_url"] == f"http://127.0.0.1:{node.rpc_port}"
        assert node.data_dir == made / "nodes" / node.name


def test_node_json_names_every_other_node_as_peer_and_its_own_certificate(made: Path) -> None:
    layout = load_cluster(made)
    ca_cert = x509.load_pem_x509_certificate((made / CA_CERT_FILE).read_bytes())
    for index, node in enumerate(layout.nodes):
        config = load_node_config(node.data_dir)
        assert config.p2p is not None
        assert config.p2p.name == node.name
        assert (config.p2p.listen_host, config.p2p.listen_port) == ("127.0.0.1", node.p2p_port)
        assert set(config.p2p.peers) == {("127.0.0.1", o.p2p_port) for o in layout.nodes if o is not node}
        assert config.p2p.tls_cert == (node.data_dir / TLS_CERT_FILE).resolve()
        cert = x509.load_pem_x509_certificate(config.p2p.tls_cert.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == node.name
        key = serialization.load_pem_private_key(config.p2p.tls_key.read_bytes(), None)
        assert key.public_key() == cert.public_key()
        assert config.faults == (FaultConfig(drop=0.5, seed=9) if index == 1 else None)


def test_create_refuses_a_used_directory_and_bad_counts(made: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="already holds a cluster"):
        create_cluster(made, 1, 0)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    with pytest.raises(ConfigError, match="not an empty directory"):
        create_cluster(tmp_path / "full", 1, 0)
    for kwargs, field in [
        ({"validators": 0, "observers": 0}, "validators"),
        ({"validators": MAX_VALIDATORS + 1, "observers": 0}, "validators"),
        ({"validators": 1, "observers": -1}, "observers"),
        ({"validators": 4, "observers": 62}, "observers"),
    ]:
        with pytest.raises(ConfigError) as caught:
            create_cluster(tmp_path / "new", **kwargs)
        assert caught.value.field == field
    with pytest.raises(ConfigError) as caught:
        create_cluster(tmp_path / "new", 2, 0, faults={2: FaultConfig(drop=1.0)})
    assert caught.value.field == "faults"
    with pytest.raises(ConfigError) as caught:  # Genesis.parse refuses what a node would
        create_cluster(tmp_path / "new", 1, 0, block_period=5, empty_block_period=2)
    assert caught.value.field == "config.qbft.emptyblockperiodseconds"
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".*partial"))


def test_add_node_joins_without_reconfiguring_the_others(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    create_cluster(directory, 2, 0, now=NOW)
    before = {n.name: (n.data_dir / "node.json").read_text() for n in load_cluster(directory).nodes}
    genesis = Genesis.load(directory / "genesis.json")

    added = add_node(directory, "validator", faults=FaultConfig(equivocate=True), now=NOW)
    observer = add_node(directory, "observer", now=NOW)

    layout = load_cluster(directory)
    assert [n.name for n in layout.nodes] == ["validator-0", "validator-1", "validator-2", "observer-0"]
    assert added.pid is None and observer.pid is None  # the cluster is not running
    assert added.address is not None and added.address not in genesis.validators  # until voted in
    assert ValidatorKey(read_key_file(added.data_dir / "key")).address == added.address
    assert not (observer.data_dir / "key").exists()
    assert {n.name: (n.data_dir / "node.json").read_text() for n in layout.nodes[:2]} == before
    config = load_node_config(added.data_dir)
    assert config.p2p is not None and config.faults == FaultConfig(equivocate=True)
    assert set(config.p2p.peers) == {("127.0.0.1", n.p2p_port) for n in layout.nodes[:2]}
    observer_peers = set(load_node_config(observer.data_dir).p2p.peers)  # type: ignore[union-attr]
    assert observer_peers == {("127.0.0.1", n.p2p_port) for n in layout.nodes[:3]}
    ports = [p for n in layout.nodes for p in (n.rpc_port, n.p2p_port)]
    assert len(set(ports)) == len(ports)
    ca_cert = x509.load_pem_x509_certificate((directory / CA_CERT_FILE).read_bytes())
    x509.load_pem_x509_certificate((added.data_dir / TLS_CERT_FILE).read_bytes()).verify_directly_issued_by(ca_cert)
    assert (added.data_dir / "genesis.json").read_text() == (directory / "genesis.json").read_text()
    with pytest.raises(ConfigError):
        add_node(directory, "archiver")  # type: ignore[arg-type]
    # The added node trusts the cluster's token issuer like the others.
    assert TokenStore(added.data_dir).key_path.read_bytes() == TokenStore(directory).key_path.read_bytes()


def test_admin_token_is_accepted_by_every_node_and_nothing_else(made: Path) -> None:
    token = load_admin_token(made)
    assert token is not None and _mode(made / ADMIN_TOKEN_FILE) == 0o600
    keys = set()
    for node in load_cluster(made).nodes:
        store = TokenStore(node.data_dir)
        assert _mode(store.key_path) == 0o600
        keys.add(store.key_path.read_bytes())
        authorizer = Authorizer.from_data_dir(node.data_dir, "required")
        principal = authorizer.authenticate(f"Bearer {token}", None)
        assert (principal.role, principal.anonymous) == ("ADMIN", False)
    assert keys == {TokenStore(made).key_path.read_bytes()}  # one issuer for the testnet
    assert [r["role"] for r in TokenStore(made).records()] == ["ADMIN"]
    other = _fresh_authorizer(made.parent / "elsewhere")
    with pytest.raises(Unauthenticated, match="unknown issuer"):
        other.authenticate(f"Bearer {token}", None)


def _fresh_authorizer(data_dir: Path) -> Authorizer:
    data_dir.mkdir()
    return Authorizer.from_data_dir(data_dir, "required")  # a fresh issuer key of its own


def test_a_moved_cluster_directory_still_loads(tmp_path: Path) -> None:
    create_cluster(tmp_path / "c", 1, 0, now=NOW)
    (tmp_path / "c").rename(tmp_path / "moved")
    layout = load_cluster(tmp_path / "moved")
    assert layout.nodes[0].data_dir == tmp_path / "moved" / "nodes" / "validator-0"
    assert load_node_config(layout.nodes[0].data_dir).p2p.tls_cert.is_file()  # type: ignore[union-attr]


# -- cluster.json parsing, stopped clusters, stale pids ---------------------------------


def _write_cluster_json(directory: Path, mutate: Any) -> None:
    document = json.loads((directory / CLUSTER_FILE).read_text())
    mutate(document)
    (directory / CLUSTER_FILE).write_text(json.dumps(document))


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("chain_id"), "chain_id"),
    (lambda d: d.update(format=9), "format"),
    (lambda d: d.update(nodes=[]), "nodes"),
    (lambda d: d["nodes"][0].update(kind="archiver"), "nodes[0].kind"),
    (lambda d: d["nodes"][0].update(rpc_port="8545"), "nodes[0].rpc_port"),
    (lambda d: d["nodes"][0].update(pid=-1), "nodes[0].pid"),
    (lambda d: d["nodes"][0].update(address="0x12"), "nodes[0].address"),
    (lambda d: d["nodes"][0].pop("data_dir"), "nodes[0].data_dir"),
    (lambda d: d["account"].pop("address"), "account.address"),
])
def test_malformed_cluster_json_names_the_field(tmp_path: Path, mutate: Any, field: str) -> None:
    create_cluster(tmp_path / "c", 1, 0, now=NOW)
    _write_cluster_json(tmp_path / "c", mutate)
    with pytest.raises(ConfigError) as caught:
        load_cluster(tmp_path / "c")
    assert caught.value.field == field, str(caught.value)


def test_no_cluster_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no cluster"):
        load_cluster(tmp_path)
    with pytest.raises(ConfigError, match="holds no cluster"):
        stop_cluster(tmp_path)


def test_a_recorded_pid_that_is_not_the_node_is_never_signalled(made: Path, tmp_path: Path) -> None:
    """This test's own pid recorded as every node's: were it signalled, pytest would die."""
    create_cluster(tmp_path / "c", 2, 0, now=NOW)
    _write_cluster_json(tmp_path / "c", lambda d: [n.update(pid=os.getpid()) for n in d["nodes"]])
    assert not any(processes.is_running(n) for n in load_cluster(tmp_path / "c").nodes)
    assert stop_node(tmp_path / "c", "validator-0", kill=True) is False
    assert stop_cluster(tmp_path / "c") == []
    assert all(n.pid is None for n in load_cluster(tmp_path / "c").nodes)


def test_status_of_a_stopped_cluster(made: Path) -> None:
    statuses = cluster_status(made)
    assert [s.name for s in statuses] == ["validator-0", "validator-1", "validator-2", "observer-0"]
    for s in statuses:
        assert not s.alive and not s.reachable and s.source == "-" and s.height is None
        assert s.error is not None


def test_node_status_reply_is_read_with_hex_or_integer_numbers() -> None:
    base = NodeStatus("validator-0", "validator", 1, True, "http://127.0.0.1:1", True, "ledger_nodeStatus")
    parsed = status._parse_node_status(base, {
        "height": "0x1f", "round": 2, "validator": True, "address": "0xab", "syncing": False,
        "peers": [{"name": "validator-1", "address": "0xcd", "height": 30}, {"name": "observer-0", "height": None}],
    })
    assert (parsed.height, parsed.round, parsed.validator, parsed.syncing) == (31, 2, True, False)
    assert parsed.peers is not None and [(p.name, p.height) for p in parsed.peers] == [("validator-1", 30), ("observer-0", None)]
    with pytest.raises(ValueError):
        status._parse_node_status(base, {"height": "31"})
    with pytest.raises(ValueError):
        status._parse_node_status(base, [])


def test_only_nodes_with_faults_get_the_fault_switch(made: Path) -> None:
    layout = load_cluster(made)
    parent = {"PATH": "/usr/bin", FAULTS_ENV: "1", "PYTHONPATH": "/elsewhere"}
    for index, node in enumerate(layout.nodes):
        env = processes.node_environment(node, parent)
        assert env.get(FAULTS_ENV) == ("1" if index == 1 else None), node.name
        assert env["PATH"] == "/usr/bin"
        checkout, elsewhere = env["PYTHONPATH"].split(os.pathsep)
        assert elsewhere == "/elsewhere"
        # `python -m client.cli` must find this checkout's client/ and node/ there.
        assert (Path(checkout) / "client" / "cli.py").is_file() and (Path(checkout) / "node").is_dir(), checkout
    assert processes.node_environment(layout.nodes[1], {})[FAULTS_ENV] == "1"


# -- --base-port, and one node by name from the CLI ------------------------------------

BASE_PORT_TRIES = 50  # candidate runs of free ports tried before the test gives up


def _free_run(count: int) -> int:
    """The first port of `count` consecutive ports that are free now."""
    for _ in range(BASE_PORT_TRIES):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count <= 65536 and all(port_free("127.0.0.1", p) for p in range(base, base + count)):
            return base
    raise AssertionError(f"no run of {count} free ports found in {BASE_PORT_TRIES} tries")


def test_base_port_lays_out_rpc_and_p2p_ports_in_pairs(tmp_path: Path) -> None:
    base = _free_run(8)
    create_cluster(tmp_path / "c", 2, 1, base_port=base, now=NOW)
    layout = load_cluster(tmp_path / "c")
    assert [(n.name, n.rpc_port, n.p2p_port) for n in layout.nodes] == [
        ("validator-0", base, base + 1), ("validator-1", base + 2, base + 3), ("observer-0", base + 4, base + 5)]
    assert layout.base_port == base
    assert json.loads((tmp_path / "c" / CLUSTER_FILE).read_text())["base_port"] == base
    config = load_node_config(layout.nodes[0].data_dir)
    assert config.p2p is not None and set(config.p2p.peers) == {("127.0.0.1", base + 3), ("127.0.0.1", base + 5)}
    added = add_node(tmp_path / "c", "validator", now=NOW)  # the next pair
    assert (added.rpc_port, added.p2p_port) == (base + 6, base + 7)


def test_without_base_port_the_system_picks_free_ports(made: Path) -> None:
    layout = load_cluster(made)
    assert layout.base_port is None
    assert "base_port" not in json.loads((made / CLUSTER_FILE).read_text())


def test_base_port_out_of_range_or_taken_is_refused(tmp_path: Path) -> None:
    for base in (65533, 1023, 0):
        with pytest.raises(ConfigError) as caught:
            create_cluster(tmp_path / "c", 2, 0, base_port=base, now=NOW)
        assert caught.value.field == "base_port"
        assert "1024" in str(caught.value) and "65535" in str(caught.value)
    base = _free_run(4)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 3))
        holder.listen()
        with pytest.raises(ConfigError) as caught:
            create_cluster(tmp_path / "c", 2, 0, base_port=base, now=NOW)
    assert caught.value.field == "base_port"
    assert f"port {base + 3} (p2p of validator-1) is in use" in str(caught.value)
    assert not (tmp_path / "c").exists() and not list(tmp_path.glob(".*partial"))


def test_cli_stop_start_restart_refuse_unknown_names_and_a_stopped_node(made: Path) -> None:
    from typer.testing import CliRunner

    from client.cli import app

    runner = CliRunner()
    for command in ("start", "stop", "restart"):
        result = runner.invoke(app, ["cluster", command, "validator-9", "--dir", str(made)])
        assert result.exit_code == 2, result.output
        assert "no node named 'validator-9'" in result.output
    result = runner.invoke(app, ["cluster", "stop", "validator-1", "--dir", str(made)])
    assert result.exit_code == 2, result.output
    assert "validator-1 is not running" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["cluster", "stop", "validator-1", "--dir", str(made / "nowhere")])
    assert result.exit_code == 2 and "holds no cluster" in result.output


def test_a_node_started_by_hand_is_taken_in_and_stopped_by_down(tmp_path: Path) -> None:
    """A process whose command line is `... node start --data-dir nodes/validator-1` (a
    relative path, from the cluster directory), as an operator types it: status records it
    as that node's, `down` stops it. A stand-in that sleeps, so no node needs to start."""
    import subprocess
    import sys

    create_cluster(tmp_path / "c", 2, 0, now=NOW)
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "node", "start", "--data-dir", "nodes/validator-1"],
        cwd=tmp_path / "c")
    try:
        # Popen returns once exec has begun; the new command line shows in /proc a moment later.
        cmdline = Path(f"/proc/{stand_in.pid}/cmdline")
        deadline = time.monotonic() + PROC_DEADLINE_SECONDS
        while b"--data-dir" not in cmdline.read_bytes():
            assert time.monotonic() < deadline, "the stand-in's command line never showed"
            time.sleep(0.01)
        by_name = {s.name: s for s in cluster_status(tmp_path / "c")}
        assert (by_name["validator-1"].alive, by_name["validator-1"].pid) == (True, stand_in.pid)
        assert not by_name["validator-0"].alive
        assert load_cluster(tmp_path / "c").node("validator-1").pid is None  # status writes nothing
        assert stop_cluster(tmp_path / "c", timeout=10) == ["validator-1"]
        assert stand_in.wait(timeout=10) == -signal.SIGTERM
    finally:
        if stand_in.poll() is None:
            stand_in.kill()
            stand_in.wait()
