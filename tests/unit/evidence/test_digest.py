"""Evidence digests: SHA-256 and SM3 against their standards' vectors, streamed and one-shot."""
from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import pytest

from evidence.digest import (
    ALGORITHM_IDS,
    DEFAULT_ALGORITHM,
    DEFAULT_CHUNK_SIZE,
    UnknownDigestAlgorithm,
    algorithm_id,
    algorithm_name,
    digest_bytes,
    digest_file,
)

# GB/T 32905-2016 (SM3), appendix A: example 1 ("abc", one block) and example 2
# ("abcd" * 16, 64 bytes: two blocks after padding).
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_ABCD_16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
# FIPS 180-2, appendix B.1 (SHA-256 of "abc"), and SHA-256 of the empty string.
SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_sm3_standard_vectors() -> None:
    assert digest_bytes(b"abc", "sm3").hex() == SM3_ABC
    assert digest_bytes(b"abcd" * 16, "sm3").hex() == SM3_ABCD_16


def test_sha256_vectors_and_default() -> None:
    assert DEFAULT_ALGORITHM == "sha256"
    assert digest_bytes(b"abc").hex() == SHA256_ABC
    assert digest_bytes(b"abc", "sha256").hex() == SHA256_ABC
    assert digest_bytes(b"").hex() == SHA256_EMPTY


@pytest.mark.parametrize("chunk_size", [1, 3, 63, 64, 65, 1 << 20])
def test_file_digest_of_the_standard_vectors(tmp_path: Path, chunk_size: int) -> None:
    # Chunk sizes around SM3's and SHA-256's 64-byte block, to split blocks every way.
    path = tmp_path / "abcd"
    path.write_bytes(b"abcd" * 16)
    assert digest_file(path, "sm3", chunk_size=chunk_size).hex() == SM3_ABCD_16
    path.write_bytes(b"abc")
    assert digest_file(path, "sha256", chunk_size=chunk_size).hex() == SHA256_ABC


@pytest.mark.parametrize("algorithm", ["sha256", "sm3"])
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096 + 17])
def test_streaming_equals_one_shot(tmp_path: Path, algorithm: str, size: int) -> None:
    data = random.Random(size).randbytes(size)
    path = tmp_path / "evidence.bin"
    path.write_bytes(data)
    assert digest_file(path, algorithm, chunk_size=4096) == digest_bytes(data, algorithm)
    assert digest_file(str(path), algorithm) == digest_bytes(data, algorithm)


def test_default_chunk_streams_a_file_larger_than_one_chunk(tmp_path: Path) -> None:
    assert DEFAULT_CHUNK_SIZE == 1 << 20
    data = random.Random(7).randbytes(2 * DEFAULT_CHUNK_SIZE + 5)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    seen: list[int] = []
    assert digest_file(path, progress=seen.append) == digest_bytes(data)
    assert seen == [DEFAULT_CHUNK_SIZE, 2 * DEFAULT_CHUNK_SIZE, len(data)]


def test_progress_reports_bytes_hashed_so_far(tmp_path: Path) -> None:
    path = tmp_path / "evidence.bin"
    path.write_bytes(bytes(10_000))
    seen: list[int] = []
    digest_file(path, "sm3", chunk_size=4096, progress=seen.append)
    assert seen == [4096, 8192, 10_000]
    path.write_bytes(b"")
    seen.clear()
    assert digest_file(path, "sm3", chunk_size=4096, progress=seen.append) == digest_bytes(b"", "sm3")
    assert seen == []


def test_memory_stays_bounded_by_the_chunk(tmp_path: Path) -> None:
    path = tmp_path / "large.bin"
    with path.open("wb") as handle:
        for _ in range(16):
            handle.write(bytes(1 << 20))  # 16 MiB
    tracemalloc.start()
    try:
        digest_file(path, chunk_size=64 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"peak {peak} bytes while hashing 16 MiB in 64 KiB chunks"


def test_chunk_size_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"x")
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="chunk_size must be a positive number of bytes"):
            digest_file(path, chunk_size=bad)  # type: ignore[arg-type]


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        digest_file(tmp_path / "absent")


def test_on_chain_ids_match_contract_registry() -> None:
    # ContractRegistry.vy: SHA256 = 1, SM3 = 2.
    assert ALGORITHM_IDS == {"sha256": 1, "sm3": 2}
    assert algorithm_id("sha256") == 1 and algorithm_id("sm3") == 2
    assert algorithm_name(1) == "sha256" and algorithm_name(2) == "sm3"
    for name in ALGORITHM_IDS:
        assert algorithm_name(algorithm_id(name)) == name


def test_names_forgive_case_and_hyphen() -> None:
    assert algorithm_id("SHA-256") == 1 and algorithm_id("SM3") == 2
    assert digest_bytes(b"abc", "SM3").hex() == SM3_ABC


@pytest.mark.parametrize("name", ["md5", "sha512", "", "sm2", 1])
def test_unknown_names_are_refused(name: object, tmp_path: Path) -> None:
    known = r"known: 'sha256' \(id 1\), 'sm3' \(id 2\)"
    with pytest.raises(UnknownDigestAlgorithm, match="unknown digest algorithm .*" + known):
        algorithm_id(name)  # type: ignore[arg-type]
    with pytest.raises(UnknownDigestAlgorithm):
        digest_bytes(b"abc", name)  # type: ignore[arg-type]
    path = tmp_path / "x"
    path.write_bytes(b"x")
    with pytest.raises(UnknownDigestAlgorithm):
        digest_file(path, name)  # type: ignore[arg-type]


@pytest.mark.parametrize("number", [0, 3, 255, -1, True, "1"])
def test_unknown_ids_are_refused(number: object) -> None:
    with pytest.raises(UnknownDigestAlgorithm) as info:
        algorithm_name(number)  # type: ignore[arg-type]
    assert info.value.algorithm == number
    assert isinstance(info.value, ValueError)


def test_message_says_id_or_name() -> None:
    with pytest.raises(UnknownDigestAlgorithm, match="unknown digest algorithm id 3;"):
        algorithm_name(3)
    with pytest.raises(UnknownDigestAlgorithm, match="unknown digest algorithm name 'md5';"):
        algorithm_id("md5")
