"""Blobs on a real --dev node: store and fetch, 404 / 400 / 413, and a sealed envelope that
goes through the node and opens only for the certificates it names."""
from __future__ import annotations

import hashlib
import http.client
import http.server
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from client import blobs, envelope as seal
from node.api import MAX_BLOB_BYTES
from tests import pki
from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow


def test_put_get_and_the_file_on_disk(dev_node: NodeProcess) -> None:
    data = os.urandom(300_000)
    digest = blobs.put_blob(dev_node.url, data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blobs.get_blob(dev_node.url, digest) == data
    assert blobs.get_blob(dev_node.url + "/", digest.upper()) == data
    assert (dev_node.data_dir / "blobs" / digest[:2] / digest[2:]).read_bytes() == data
    assert blobs.put_blob(dev_node.url, data) == digest  # idempotent


def test_status_codes(dev_node: NodeProcess) -> None:
    data = b"status codes " + os.urandom(16)
    digest = hashlib.sha256(data).hexdigest()
    connection = http.client.HTTPConnection("127.0.0.1", dev_node.port, timeout=30)
    try:
        for expected in (201, 200):
            connection.request("PUT", "/v1/blobs", body=data)
            response = connection.getresponse()
            assert response.status == expected
            response.read()
        connection.request("HEAD", f"/v1/blobs/{digest}")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("content-length") == str(len(data))
        assert response.read() == b""
        connection.request("HEAD", "/v1/blobs/" + "0" * 64)
        response = connection.getresponse()
        assert response.status == 404
        response.read()
    finally:
        connection.close()
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(f"{dev_node.url}/v1/blobs/not-a-hash", timeout=30)
    assert failure.value.code == 400


def test_unknown_blob_is_not_found(dev_node: NodeProcess) -> None:
    with pytest.raises(blobs.BlobNotFound) as failure:
        blobs.get_blob(dev_node.url, "ab" * 32)
    assert failure.value.status == 404
    assert "no blob" in str(failure.value)


def test_oversized_upload_is_413(dev_node: NodeProcess) -> None:
    # Declare one byte over the cap and send nothing: the node answers before reading a body.
    connection = http.client.HTTPConnection("127.0.0.1", dev_node.port, timeout=30)
    try:
        connection.putrequest("PUT", "/v1/blobs")
        connection.putheader("Content-Length", str(MAX_BLOB_BYTES + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert b"exceeds the limit" in response.read()
    finally:
        connection.close()
    # The SDK refuses such a blob before sending it.
    with pytest.raises(blobs.BlobError, match="exceeds the node's limit") as failure:
        blobs.put_blob(dev_node.url, bytes(blobs.MAX_BLOB_BYTES + 1))
    assert failure.value.status == 413
    assert blobs.MAX_BLOB_BYTES == MAX_BLOB_BYTES


def test_sealed_envelope_round_trip_through_the_node(dev_node: NodeProcess) -> None:
    center = pki.rsa_ca().issue("Trading Center", "rsa2048")
    bidder = pki.p256_ca().issue("Winning Bidder", "p256")
    outsider = pki.p384_ca().issue("Someone Else", "p384")
    contract = "施工合同 No. 2026-0042 — signed scan".encode() + os.urandom(50_000)
    envelope = seal.seal_envelope(contract, [center.leaf, bidder.leaf], aad=b"project 2026-0042")
    digest = blobs.put_blob(dev_node.url, envelope)
    fetched = blobs.get_blob(dev_node.url, digest)
    assert fetched == envelope
    assert contract not in (dev_node.data_dir / "blobs" / digest[:2] / digest[2:]).read_bytes()
    assert seal.envelope_recipients(fetched) == [center.fingerprint, bidder.fingerprint]
    for person in (center, bidder):
        assert seal.open_envelope(fetched, person.key, person.leaf, aad=b"project 2026-0042") == contract
    with pytest.raises(seal.NotARecipient):
        seal.open_envelope(fetched, outsider.key, outsider.leaf, aad=b"project 2026-0042")


# -- the client checks what a node returns ---------------------------------------------


@pytest.fixture
def lying_node() -> Iterator[str]:
    """A server that answers every blob request with bytes other than those asked for."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"not what you asked for"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"sha256": "' + b"0" * 64 + b'", "size": 1}'
            self.send_response(201)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_client_rejects_bytes_that_do_not_match_the_hash(lying_node: str) -> None:
    with pytest.raises(blobs.BlobMismatch, match="hashing to"):
        blobs.get_blob(lying_node, "ab" * 32)
    with pytest.raises(blobs.BlobMismatch, match="the node stored"):
        blobs.put_blob(lying_node, b"data")


def test_client_reports_an_unreachable_node() -> None:
    with pytest.raises(blobs.BlobError, match="cannot reach"):
        blobs.get_blob(f"http://127.0.0.1:{free_port()}", "ab" * 32, timeout=5)
