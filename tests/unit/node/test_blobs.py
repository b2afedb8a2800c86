"""The blob store: layout, idempotence, atomic writes, hash checks, the size cap, and its
routes served in-process (the integration test drives a real node)."""
from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works fine here
    warnings.filterwarnings("ignore", message=".*httpx")
    from fastapi.testclient import TestClient

from node.access.http import Authorizer
from node.rpc.rest.routes import add_blob_routes
from node.storage import blobs
from node.storage.blobs import BadBlobHash, BlobStore, BlobTooLarge, NoSuchBlob

SMALL_CAP = 4096


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", max_bytes=SMALL_CAP)


def test_put_names_the_blob_by_its_sha256_in_a_shard(store: BlobStore) -> None:
    data = b"sealed envelope bytes"
    digest = hashlib.sha256(data).hexdigest()
    info = store.put(data)
    assert (info.sha256, info.size, info.created) == (digest, len(data), True)
    assert files_under(store.root) == [store.root / digest[:2] / digest[2:]]
    assert store.read(digest) == data
    assert store.has(digest)


def test_put_is_idempotent(store: BlobStore) -> None:
    first = store.put(b"same")
    again = store.put(b"same")
    assert again.sha256 == first.sha256 and not again.created
    assert len(files_under(store.root)) == 1


def test_empty_blob_is_a_blob(store: BlobStore) -> None:
    info = store.put(b"")
    assert info.sha256 == hashlib.sha256(b"").hexdigest() and store.read(info.sha256) == b""


@pytest.mark.parametrize("name", ["", "ab", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "../" + "0" * 61,
                                  "0" * 62 + "/x", " " + "0" * 63, "0" * 64 + "\n"])
def test_bad_hashes_are_refused(store: BlobStore, name: str) -> None:
    with pytest.raises(BadBlobHash):
        store.path(name)
    with pytest.raises(BadBlobHash):
        store.read(name)


def test_unknown_blob_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NoSuchBlob):
        store.read("0" * 64)
    assert not store.has("0" * 64)


def test_failed_write_leaves_nothing(store: BlobStore) -> None:
    with pytest.raises(RuntimeError):
        with store.begin() as writer:
            writer.write(b"half of a blob")
            raise RuntimeError("client went away")
    assert files_under(store.root) == []


def test_oversized_write_leaves_nothing(store: BlobStore) -> None:
    with pytest.raises(BlobTooLarge) as failure:
        with store.begin() as writer:
            writer.write(bytes(SMALL_CAP))  # exactly the cap is fine
            writer.write(b"x")
    assert (failure.value.size, failure.value.limit) == (SMALL_CAP + 1, SMALL_CAP)
    assert files_under(store.root) == []
    assert store.put(bytes(SMALL_CAP)).size == SMALL_CAP


def test_failed_rename_leaves_no_blob_under_its_name(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(blobs.os, "replace", fail)
    with pytest.raises(OSError):
        store.put(b"never lands")
    monkeypatch.undo()
    assert files_under(store.root) == []
    assert not store.has(hashlib.sha256(b"never lands").hexdigest())


def test_a_crash_mid_write_is_swept_when_the_store_opens(store: BlobStore) -> None:
    writer = store.begin()
    writer.write(b"interrupted")  # no commit, no abort: the process died here
    assert writer.file is not None
    writer.file.flush()
    assert len(files_under(store.temp)) == 1
    reopened = BlobStore(store.root)
    assert files_under(reopened.root) == []
    writer.file.close()


def test_commit_fsyncs_the_file_before_renaming_and_the_directory_after(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(blobs.os, "fsync", fsync)
    monkeypatch.setattr(blobs.os, "replace", replace)
    store.put(b"durable")
    # the shard is new: its creation is made durable too (the store root's fsync)
    assert events == ["fsync file", "fsync dir", "rename", "fsync dir"]


# -- routes ------------------------------------------------------------------------------


@pytest.fixture
def client(store: BlobStore) -> Iterator[TestClient]:
    app = FastAPI()
    add_blob_routes(app, store, Authorizer.open())  # access: tests/unit/node/test_access.py
    with TestClient(app) as test_client:
        yield test_client


def test_put_then_get_and_head(client: TestClient) -> None:
    data = bytes(range(256)) * 8
    digest = hashlib.sha256(data).hexdigest()
    created = client.put("/v1/blobs", content=data)
    assert created.status_code == 201
    assert created.json() == {"sha256": digest, "size": len(data)}
    assert created.headers["location"] == f"/v1/blobs/{digest}"
    again = client.put("/v1/blobs", content=data)
    assert (again.status_code, again.json()) == (200, {"sha256": digest, "size": len(data)})
    got = client.get(f"/v1/blobs/{digest}")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["etag"] == f'"{digest}"'
    head = client.head(f"/v1/blobs/{digest}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))


def test_unknown_blob_is_404_json(client: TestClient) -> None:
    missing = client.get("/v1/blobs/" + "ab" * 32)
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"no blob {'ab' * 32}"}
    assert client.head("/v1/blobs/" + "ab" * 32).status_code == 404


@pytest.mark.parametrize("name", ["AB" * 32, "zz", "ab" * 33, "%2e%2e%2fetc%2fpasswd"])
def test_bad_hash_is_400(client: TestClient, name: str) -> None:
    response = client.get("/v1/blobs/" + name)
    assert response.status_code in (400, 404)  # a path that is not one segment never reaches the route
    if response.status_code == 400:
        assert "not a SHA-256 hex digest" in response.json()["detail"]


def test_declared_oversize_is_413_before_reading(client: TestClient, store: BlobStore) -> None:
    response = client.put("/v1/blobs", content=bytes(SMALL_CAP + 1))
    assert response.status_code == 413
    assert f"limit of {SMALL_CAP} bytes" in response.json()["detail"]
    assert files_under(store.root) == []


def test_streamed_oversize_is_413_and_stores_nothing(client: TestClient, store: BlobStore) -> None:
    def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to refuse early
        for _ in range(SMALL_CAP // 1000 + 2):
            yield bytes(1000)

    response = client.put("/v1/blobs", content=chunks())
    assert response.status_code == 413
    assert files_under(store.root) == []


def test_streamed_upload_within_the_cap(client: TestClient, store: BlobStore) -> None:
    parts = [os.urandom(1000) for _ in range(4)]
    response = client.put("/v1/blobs", content=iter(parts))
    assert response.status_code == 201
    assert store.read(response.json()["sha256"]) == b"".join(parts)


def test_full_disk_is_507(client: TestClient, store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(blobs.os, "replace", fail)
    response = client.put("/v1/blobs", content=b"no room")
    assert response.status_code == 507
    monkeypatch.undo()
    assert files_under(store.root) == []


def test_default_cap_is_64_mib() -> None:
    assert blobs.MAX_BLOB_BYTES == 64 * 1024 * 1024
