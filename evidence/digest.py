"""Content digests of evidence files: SHA-256 by default, SM3 (GB/T 32905-2016) selectable.

An entry records which algorithm made its digest. On chain the algorithm is a small
integer, the same numbering ContractRegistry checks (``1`` SHA-256, ``2`` SM3); off chain
it is the lower-case name. Both algorithms give 32-byte digests.

Hashing is OpenSSL's, through ``cryptography``: its SM3 is a maintained implementation
(checked against the standard's test vectors in the unit tests), so none is written here.
Files are hashed in fixed-size chunks into one reused buffer, so memory stays bounded
whatever the file's size.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from evidence.errors import EvidenceError

__all__ = [
    "ALGORITHM_IDS",
    "DEFAULT_ALGORITHM",
    "DEFAULT_CHUNK_SIZE",
    "DIGEST_SIZE",
    "SHA256",
    "SM3",
    "UnknownDigestAlgorithm",
    "algorithm_id",
    "algorithm_name",
    "digest_bytes",
    "digest_file",
]

SHA256: Final = "sha256"
SM3: Final = "sm3"
DEFAULT_ALGORITHM: Final = SHA256
# The on-chain numbering; ContractRegistry.vy accepts exactly these two (SHA256 = 1, SM3 = 2).
ALGORITHM_IDS: Final[dict[str, int]] = {SHA256: 1, SM3: 2}
_NAMES_BY_ID: Final[dict[int, str]] = {number: name for name, number in ALGORITHM_IDS.items()}
DIGEST_SIZE: Final = 32  # bytes, for both algorithms
# 1 MiB: large enough that per-call overhead vanishes, small enough to bound memory per file.
DEFAULT_CHUNK_SIZE: Final = 1 << 20

_HASH_TYPES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {SHA256: hashes.SHA256, SM3: hashes.SM3}


class UnknownDigestAlgorithm(EvidenceError):
    """A digest algorithm name or on-chain id that the ledger does not define.

    ``algorithm`` is what was asked for (a name or an id), unchanged.
    """

    def __init__(self, algorithm: object) -> None:
        self.algorithm = algorithm
        known = ", ".join(f"{name!r} (id {number})" for name, number in ALGORITHM_IDS.items())
        kind = "id" if isinstance(algorithm, int) and not isinstance(algorithm, bool) else "name"
        super().__init__(f"unknown digest algorithm {kind} {algorithm!r}; known: {known}")


def _canonical(name: object) -> str:
    """The registry name for `name`: case and a hyphen are forgiven ("SHA-256" is "sha256")."""
    if not isinstance(name, str):
        raise UnknownDigestAlgorithm(name)
    canonical = name.strip().lower().replace("-", "")
    if canonical not in ALGORITHM_IDS:
        raise UnknownDigestAlgorithm(name)
    return canonical


def algorithm_id(name: str) -> int:
    """The on-chain id of a digest algorithm name (``"sha256"`` -> 1, ``"sm3"`` -> 2)."""
    return ALGORITHM_IDS[_canonical(name)]


def algorithm_name(algorithm: int) -> str:
    """The name of an on-chain digest algorithm id (1 -> ``"sha256"``, 2 -> ``"sm3"``)."""
    if isinstance(algorithm, bool) or not isinstance(algorithm, int) or algorithm not in _NAMES_BY_ID:
        raise UnknownDigestAlgorithm(algorithm)
    return _NAMES_BY_ID[algorithm]


def _new_hash(algorithm: str) -> hashes.Hash:
    name = _canonical(algorithm)
    try:
        return hashes.Hash(_HASH_TYPES[name]())
    except UnsupportedAlgorithm as exc:  # an OpenSSL built without SM3
        raise UnknownDigestAlgorithm(algorithm) from exc


def digest_bytes(data: bytes, algorithm: str = DEFAULT_ALGORITHM) -> bytes:
    """The 32-byte digest of `data` under `algorithm` (``"sha256"`` or ``"sm3"``)."""
    h = _new_hash(algorithm)
    h.update(data)
    return h.finalize()


def digest_file(
    path: str | os.PathLike[str],
    algorithm: str = DEFAULT_ALGORITHM,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """The 32-byte digest of the file at `path`, read in `chunk_size` pieces.

    At most one chunk of the file is in memory at a time. After each chunk, `progress`
    (when given) is called with the number of bytes hashed so far; it is not called for
    an empty file. The file's own errors (missing, unreadable) propagate as ``OSError``.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}")
    h = _new_hash(algorithm)
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    done = 0
    with open(path, "rb") as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            h.update(view[:count])
            done += count
            if progress is not None:
                progress(done)
    return h.finalize()
