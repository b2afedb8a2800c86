"""The blob store's quota (node/storage/blobs.py BlobQuota): the store's total bytes and blob
count, each caller's share (its token; without authentication its client address), the
free disk kept for the chain, and a refused upload leaving nothing behind — plus the
Cache-Control a blob is served with. The routes run in-process on a small quota; keys
and clocks are fixed."""
from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works fine here
    warnings.filterwarnings("ignore", message=".*httpx")
    from fastapi.testclient import TestClient

from node.access.http import Authorizer
from node.access.tokens import issue_token, key_id
from node.errors import ConfigError
from node.rpc.rest.routes import add_blob_routes
from node.storage import blobs
from node.storage.blobs import BlobQuota, BlobQuotaExceeded, BlobStore

NOW = 1_790_000_000
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
# A quota small enough to fill: 10 KiB and 6 blobs in all, 4 KiB and 3 blobs per caller,
# and no free-disk reserve (the test's disk is what it is; a test below sets one).
SMALL = BlobQuota(max_bytes=10 * 1024, max_blobs=6, caller_bytes=4 * 1024, caller_blobs=3, min_free_bytes=0)


def token(subject: str, token_id: str, role: str = "TRADING_CENTER") -> str:
    text, _ = issue_token(KEY, role=role, subject=subject, address=None, now=NOW, ttl=3600, token_id=token_id)
    return text


DESK_A = token("desk a", "a" * 32)
DESK_B = token("desk b", "b" * 32)
DESK_C = token("desk c", "c" * 32)


def bearer(text: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {text}"}


def blob_files(store: BlobStore) -> list[Path]:
    """Every file under the store (blobs and temp files alike)."""
    return sorted(p for p in store.root.rglob("*") if p.is_file())


def app_for(store: BlobStore, authorizer: Authorizer) -> FastAPI:
    app = FastAPI()
    add_blob_routes(app, store, authorizer)
    return app


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", max_bytes=4 * 1024, quota=SMALL)


@pytest.fixture
def client(store: BlobStore) -> Iterator[TestClient]:
    authorizer = Authorizer("required", {key_id(KEY.public_key()): KEY.public_key()}, clock=lambda: NOW)
    with TestClient(app_for(store, authorizer)) as test_client:
        yield test_client


def put(client: TestClient, data: bytes, who: str, *, chunked: bool = False) -> tuple[int, dict[str, object]]:
    content: bytes | Iterator[bytes] = iter([data[:len(data) // 2], data[len(data) // 2:]]) if chunked else data
    response = client.put("/v1/blobs", content=content, headers=bearer(who))
    return response.status_code, response.json()


# -- a caller's share ---------------------------------------------------------------------------


def test_a_second_caller_still_uploads_after_the_first_used_its_quota(client: TestClient, store: BlobStore) -> None:
    for n in range(3):  # desk A's three blobs
        assert put(client, bytes([n]) * 1000, DESK_A)[0] == 201
    before = blob_files(store)
    status, body = put(client, b"\x09" * 10, DESK_A)
    assert status == 413, body
    assert body["scope"] == "caller" and body["unit"] == "blobs" and body["limit"] == 3
    assert f"caller token:{'a' * 32}" in str(body["detail"])
    assert blob_files(store) == before  # nothing half-written
    # desk B is not held to desk A's quota
    status, body = put(client, b"\x09" * 10, DESK_B)
    assert status == 201, body
    assert store.read(hashlib.sha256(b"\x09" * 10).hexdigest()) == b"\x09" * 10


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_caller_over_its_byte_share_is_413_and_nothing_is_kept(client: TestClient, store: BlobStore,
                                                                   chunked: bool) -> None:
    assert put(client, b"\x01" * 3000, DESK_A)[0] == 201
    status, body = put(client, b"\x02" * 2000, DESK_A, chunked=chunked)  # 5000 > 4096
    assert status == 413, body
    assert (body["scope"], body["unit"], body["limit"]) == ("caller", "bytes", 4096)
    assert len(blob_files(store)) == 1
    assert store.usage.caller(f"token:{'a' * 32}") == (3000, 1)  # the refused upload gave back what it took
    assert put(client, b"\x03" * 1000, DESK_A)[0] == 201  # what still fits, fits


def test_uploading_bytes_the_store_holds_costs_nothing_once_found(client: TestClient, store: BlobStore) -> None:
    data = b"\x04" * 4000
    assert put(client, data, DESK_A)[0] == 201
    assert put(client, data, DESK_B)[0] == 200  # counted while it streamed, given back when found
    assert store.usage.caller(f"token:{'b' * 32}") == (0, 0)
    assert (store.usage.bytes, store.usage.blobs) == (4000, 1)
    # Desk A sending them again would take it past its share while they stream: a client
    # that may repeat an upload asks HEAD first.
    assert put(client, data, DESK_A)[0] == 413


# -- the store's total ------------------------------------------------------------------------------


def test_the_store_full_is_507_and_stays_consistent(client: TestClient, store: BlobStore) -> None:
    for n, who in enumerate([DESK_A, DESK_A, DESK_B, DESK_B, DESK_C]):
        assert put(client, bytes([n]) * 2000, who)[0] == 201  # 10,000 bytes of the 10,240
    before = blob_files(store)
    status, body = put(client, b"\x10" * 1000, DESK_C)
    assert status == 507, body
    assert (body["scope"], body["unit"], body["limit"]) == ("store", "bytes", 10 * 1024)
    assert "blob store is full" in str(body["detail"])
    assert blob_files(store) == before
    assert (store.usage.bytes, store.usage.blobs) == (10_000, 5)
    assert put(client, b"\x11" * 200, DESK_C)[0] == 201  # 240 bytes were left
    assert put(client, b"", DESK_C)[0] == 507  # and now no blob count: 6 of 6
    assert store.usage.blobs == 6


def test_the_store_counts_what_is_on_disk_when_it_opens(tmp_path: Path) -> None:
    first = BlobStore(tmp_path / "blobs", quota=SMALL)
    first.put(b"\x01" * 3000, "token:" + "a" * 32)
    first.put(b"\x02" * 1000, "client:192.0.2.7")
    reopened = BlobStore(tmp_path / "blobs", quota=SMALL)
    assert (reopened.usage.bytes, reopened.usage.blobs) == (4000, 2)
    assert reopened.usage.caller("token:" + "a" * 32) == (3000, 1)  # the caller's share survives a restart
    assert reopened.usage.caller("client:192.0.2.7") == (1000, 1)
    with pytest.raises(BlobQuotaExceeded) as refused:
        reopened.put(b"\x03" * 1500, "token:" + "a" * 32)
    assert refused.value.scope == "caller"
    # a line a crash tore off is skipped, and costs the record after it nothing
    with open(reopened.uploads_path, "a") as handle:
        handle.write("\n" + "ab" * 20)
    reopened.put(b"\x04" * 500, "token:" + "a" * 32)
    assert BlobStore(tmp_path / "blobs", quota=SMALL).usage.caller("token:" + "a" * 32) == (3500, 2)


def test_concurrent_writers_cannot_overshoot_together(store: BlobStore) -> None:
    # Two uploads of one caller interleaved chunk by chunk: the second chunk that would
    # take the caller past 4096 bytes is refused even though neither has committed.
    first, second = store.begin("token:x"), store.begin("token:x")
    first.write(b"\x01" * 2000)
    second.write(b"\x02" * 2000)
    with pytest.raises(BlobQuotaExceeded):
        second.write(b"\x02" * 100)
    second.abort()
    first.write(b"\x01" * 2000)
    first.commit()
    first.abort()
    assert store.usage.caller("token:x") == (4000, 1)
    assert [p.parent.name for p in blob_files(store)] == [hashlib.sha256(b"\x01" * 4000).hexdigest()[:2]]


def test_the_disk_reserve_for_the_chain_is_507(tmp_path: Path) -> None:
    free = BlobStore(tmp_path / "probe", quota=SMALL).free_bytes()
    store = BlobStore(tmp_path / "blobs", quota=BlobQuota(**{**SMALL.__dict__, "min_free_bytes": free + 2**40}))
    authorizer = Authorizer("required", {key_id(KEY.public_key()): KEY.public_key()}, clock=lambda: NOW)
    with TestClient(app_for(store, authorizer)) as client:
        for chunked in (False, True):  # refused before the body (declared) and before the rename (chunked)
            status, body = put(client, b"\x01" * 100, DESK_A, chunked=chunked)
            assert status == 507, body
            assert body["unit"] == "free bytes" and "kept free for the chain" in str(body["detail"])
    assert blob_files(store) == []
    assert (store.usage.bytes, store.usage.blobs) == (0, 0)


def test_a_chunked_upload_stops_at_the_chunk_that_would_eat_the_disk_reserve(tmp_path: Path) -> None:
    """No Content-Length, so nothing is known up front: each chunk is checked against the
    disk's free space before it is written, not only the finished blob before its rename."""
    probe = BlobStore(tmp_path / "probe", quota=SMALL)
    headroom = 1024 * 1024
    quota = BlobQuota(max_bytes=2**40, max_blobs=10, caller_bytes=2**40, caller_blobs=10,
                      min_free_bytes=probe.free_bytes() - headroom)
    store = BlobStore(tmp_path / "blobs", quota=quota)
    writer = store.begin("client:127.0.0.1", None)
    written = 0
    with pytest.raises(blobs.BlobQuotaExceeded) as exc:
        for _ in range(64):  # 64 x 1 MiB: far past the headroom
            writer.write(b"\x00" * (1024 * 1024))
            written += 1024 * 1024
    writer.abort()
    assert exc.value.unit == "free bytes" and written < 64 * 1024 * 1024
    assert blob_files(store) == [] and (store.usage.bytes, store.usage.blobs) == (0, 0)


def test_without_authentication_each_client_address_has_its_own_share(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", quota=SMALL)
    app = app_for(store, Authorizer.open())
    with TestClient(app, client=("192.0.2.1", 40000)) as one, TestClient(app, client=("192.0.2.2", 40000)) as two:
        for n in range(3):
            assert one.put("/v1/blobs", content=bytes([n]) * 10).status_code == 201
        refused = one.put("/v1/blobs", content=b"\x07" * 10)
        assert refused.status_code == 413 and "client:192.0.2.1" in refused.json()["detail"]
        assert two.put("/v1/blobs", content=b"\x07" * 10).status_code == 201


def test_quota_settings_are_checked() -> None:
    assert BlobQuota() == BlobQuota(max_bytes=blobs.MAX_STORE_BYTES, max_blobs=blobs.MAX_STORE_BLOBS,
                                    caller_bytes=blobs.MAX_CALLER_BYTES, caller_blobs=blobs.MAX_CALLER_BLOBS,
                                    min_free_bytes=blobs.MIN_FREE_BYTES)
    with pytest.raises(ConfigError, match="max_bytes"):
        BlobQuota(max_bytes=-1)
    with pytest.raises(ConfigError, match="share"):
        BlobQuota(max_bytes=10, caller_bytes=11, max_blobs=10, caller_blobs=1)


# -- caching ------------------------------------------------------------------------------------------


def test_a_blob_read_with_a_token_is_private_and_without_one_public(client: TestClient, tmp_path: Path) -> None:
    data = b"sealed"
    digest = hashlib.sha256(data).hexdigest()
    assert put(client, data, DESK_A)[0] == 201
    for method in ("GET", "HEAD"):
        response = client.request(method, f"/v1/blobs/{digest}", headers=bearer(DESK_B))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
    open_store = BlobStore(tmp_path / "open", quota=SMALL)
    open_store.put(data)
    with TestClient(app_for(open_store, Authorizer.open())) as anonymous:
        response = anonymous.get(f"/v1/blobs/{digest}")  # a node that asks no token: shared caches may keep it
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
