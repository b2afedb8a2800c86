#pragma version 0.4.3
#pragma evm-version cancun
"""
@title Evidence registry: digests and batch roots anchored on chain
@notice Deployed in genesis at 0x0000000000000000000000000000000000001004.
        A member anchors one digest (leaf_count 1) or the RFC 9162 Merkle root
        of a batch (leaf_count = the batch's size), with the kind of evidence,
        a case or project reference, the digest algorithm and a metadata
        digest. The first anchoring of a digest is kept forever; a later one
        is recorded beside it and logged, never written over it. The content
        itself never comes here: only digests.
"""

interface IdentityRegistry:
    def has_role(who: address, roles: uint256) -> bool: view

IDENTITY: constant(address) = 0x0000000000000000000000000000000000001001
ANY_ROLE: constant(uint256) = 127
SHA256: constant(uint8) = 1
SM3: constant(uint8) = 2
MAX_KIND: constant(uint256) = 32
MAX_CASE: constant(uint256) = 64
# A batch tree's size cap (evidence/merkle.py MAX_TREE_SIZE).
MAX_LEAVES: constant(uint256) = 2**32

struct Anchoring:
    submitter: address
    block_number: uint256
    timestamp: uint256

struct Entry:
    kind: String[MAX_KIND]
    case_ref: String[MAX_CASE]
    digest_algorithm: uint8
    leaf_count: uint256
    metadata_digest: bytes32
    first: Anchoring
    anchorings: uint256    # 1 + how many times it was anchored again

entries: HashMap[bytes32, Entry]
later: HashMap[bytes32, HashMap[uint256, Anchoring]]   # digest -> n (from 1) -> a later anchoring
entry_count: public(uint256)

event Anchored:
    digest: indexed(bytes32)
    submitter: indexed(address)
    case_hash: indexed(bytes32)
    kind: String[MAX_KIND]
    case_ref: String[MAX_CASE]
    digest_algorithm: uint8
    leaf_count: uint256
    metadata_digest: bytes32
    anchoring: uint256     # 1 for the first anchoring, n for the n-th


@deploy
def __init__():
    pass


@external
def anchor(
    digest: bytes32,
    leaf_count: uint256,
    kind: String[MAX_KIND],
    case_ref: String[MAX_CASE],
    digest_algorithm: uint8,
    metadata_digest: bytes32,
) -> uint256:
    """Anchor `digest` (leaf_count 1) or a batch root (leaf_count leaves); returns
    which anchoring of this digest it is (1 = the first)."""
    assert staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, ANY_ROLE), "only members may anchor evidence"
    assert digest != empty(bytes32), "digest is empty"
    assert leaf_count >= 1 and leaf_count <= MAX_LEAVES, "leaf count must be between 1 and 2**32"
    assert digest_algorithm == SHA256 or digest_algorithm == SM3, "digest algorithm must be 1 (SHA-256) or 2 (SM3)"
    assert len(kind) > 0, "kind is empty"
    here: Anchoring = Anchoring(submitter=msg.sender, block_number=block.number, timestamp=block.timestamp)
    n: uint256 = self.entries[digest].anchorings + 1
    if n == 1:
        self.entries[digest] = Entry(
            kind=kind, case_ref=case_ref, digest_algorithm=digest_algorithm, leaf_count=leaf_count,
            metadata_digest=metadata_digest, first=here, anchorings=1,
        )
        self.entry_count += 1
    else:
        self.entries[digest].anchorings = n
        self.later[digest][n] = here
    log Anchored(
        digest=digest, submitter=msg.sender, case_hash=keccak256(case_ref), kind=kind, case_ref=case_ref,
        digest_algorithm=digest_algorithm, leaf_count=leaf_count, metadata_digest=metadata_digest, anchoring=n,
    )
    return n


@external
@view
def get_entry(digest: bytes32) -> Entry:
    """The first anchoring of `digest` and how many times it was anchored."""
    e: Entry = self.entries[digest]
    assert e.anchorings != 0, "digest not anchored"
    return e


@external
@view
def anchoring(digest: bytes32, n: uint256) -> Anchoring:
    """The n-th anchoring of `digest` (1 = the first)."""
    e: Entry = self.entries[digest]
    assert n >= 1 and n <= e.anchorings, "no such anchoring"
    if n == 1:
        return e.first
    return self.later[digest][n]
