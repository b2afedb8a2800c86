#pragma version 0.4.3
#pragma evm-version cancun
"""
@title Seal registry: organisations' electronic seal images (印章同步)
@notice Deployed in genesis at 0x0000000000000000000000000000000000001005.
        A member registers its seal: the SHA-256 of the image file (the
        seal's id), the digest of its pixels (what a PDF viewer draws; see
        docs/chaincode.md), a name, and the certificate it signs with,
        proven by a signature of that certificate's key over the
        registration digest. The seal is usable once a quorum of admins
        has approved it, as a CA root is trusted. The owner or an admin
        revokes it; a seal whose certificate is revoked or replaced is
        unusable too, since the contract registry checks the signer's
        certificate at every signature. A seal id is never reused.
"""

interface IdentityRegistry:
    def has_role(who: address, roles: uint256) -> bool: view
    def quorum() -> uint256: view
    def verify_signer(signer: address, chain_der: Bytes[24576], digest: bytes32, signature: Bytes[1024]) -> (bytes32, bytes32): view

IDENTITY: constant(address) = 0x0000000000000000000000000000000000001001
ADMIN: constant(uint256) = 1

PROPOSED: constant(uint8) = 1     # registered, waiting for the admins' quorum
APPROVED: constant(uint8) = 2     # usable in signatures
REVOKED: constant(uint8) = 3      # never usable again

MAX_NAME: constant(uint256) = 128
MAX_CHAIN: constant(uint256) = 24576
MAX_SIGNATURE: constant(uint256) = 1024

SEAL_DOMAIN: constant(bytes32) = keccak256("evidence-ledger/seal-registration/v1")

struct Seal:
    owner: address
    name: String[MAX_NAME]
    pixel_digest: bytes32
    cert_fingerprint: bytes32
    root_fingerprint: bytes32
    status: uint8
    approvals: uint256
    registered_at: uint256
    approved_at: uint256
    revoked_at: uint256

seals: HashMap[bytes32, Seal]
approved_by: public(HashMap[bytes32, HashMap[address, bool]])
# Who holds each pixel digest, and how many of their seals with those pixels stand (not
# revoked): another member may not register the same pixels under a new file (a copy of
# an organisation's seal lifted from a signed PDF) while one stands. pixel_seal is the
# latest seal registered with the pixels.
pixel_seal: public(HashMap[bytes32, bytes32])
pixel_owner: public(HashMap[bytes32, address])
pixel_live: public(HashMap[bytes32, uint256])
seal_count: public(uint256)
seal_at: public(HashMap[uint256, bytes32])

event SealRegistered:
    seal: indexed(bytes32)
    owner: indexed(address)
    cert_fingerprint: indexed(bytes32)
    root_fingerprint: bytes32
    pixel_digest: bytes32
    name: String[MAX_NAME]

event SealApproval:
    seal: indexed(bytes32)
    admin: indexed(address)
    approvals: uint256
    quorum: uint256

event SealApproved:
    seal: indexed(bytes32)
    owner: indexed(address)
    cert_fingerprint: indexed(bytes32)

event SealRevoked:
    seal: indexed(bytes32)
    owner: indexed(address)
    by: indexed(address)
    reason_digest: bytes32


@deploy
def __init__():
    pass


@external
@view
def registration_digest(seal: bytes32, pixel_digest: bytes32, name: String[MAX_NAME], who: address) -> bytes32:
    """What the owner's certificate key signs to register seal `seal` for `who`."""
    return keccak256(abi_encode(SEAL_DOMAIN, chain.id, self, who, seal, pixel_digest, keccak256(name)))


@external
@view
def get_seal(seal: bytes32) -> Seal:
    s: Seal = self.seals[seal]
    assert s.status != 0, "no such seal"
    return s


@external
@view
def usable(seal: bytes32, signer: address, cert_fingerprint: bytes32) -> bool:
    """True if `seal` is approved, not revoked, owned by `signer` and bound to the
    certificate `cert_fingerprint`."""
    # Three fields, not the whole record: sign_pdf pays for every cold slot it reads.
    return self.seals[seal].status == APPROVED and self.seals[seal].owner == signer and self.seals[seal].cert_fingerprint == cert_fingerprint


@external
def register(seal: bytes32, pixel_digest: bytes32, name: String[MAX_NAME], chain_der: Bytes[MAX_CHAIN], signature: Bytes[MAX_SIGNATURE]):
    """Register the caller's seal `seal` (SHA-256 of the image file), bound to the
    certificate (chain `chain_der`) the caller registered as a member; `signature`
    is that certificate key's over registration_digest. Waits for the admins."""
    assert seal != empty(bytes32), "seal digest is empty"
    assert pixel_digest != empty(bytes32), "pixel digest is empty"
    assert len(name) > 0, "seal name is empty"
    assert self.seals[seal].status == 0, "seal already registered"
    if self.pixel_live[pixel_digest] > 0:
        assert self.pixel_owner[pixel_digest] == msg.sender, "another member registered a seal with these pixels"
    digest: bytes32 = keccak256(abi_encode(SEAL_DOMAIN, chain.id, self, msg.sender, seal, pixel_digest, keccak256(name)))
    cert: bytes32 = empty(bytes32)
    root: bytes32 = empty(bytes32)
    cert, root = staticcall IdentityRegistry(IDENTITY).verify_signer(msg.sender, chain_der, digest, signature)
    self.seals[seal] = Seal(
        owner=msg.sender, name=name, pixel_digest=pixel_digest, cert_fingerprint=cert, root_fingerprint=root,
        status=PROPOSED, approvals=0, registered_at=block.timestamp, approved_at=0, revoked_at=0,
    )
    self.pixel_seal[pixel_digest] = seal
    self.pixel_owner[pixel_digest] = msg.sender
    self.pixel_live[pixel_digest] += 1
    count: uint256 = self.seal_count
    self.seal_at[count] = seal
    self.seal_count = count + 1
    log SealRegistered(seal=seal, owner=msg.sender, cert_fingerprint=cert, root_fingerprint=root,
                       pixel_digest=pixel_digest, name=name)


@external
def approve(seal: bytes32):
    """An admin approves a registered seal; it becomes usable at the quorum of the
    identity registry (a majority of the admins)."""
    assert staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, ADMIN), "only an admin may approve seals"
    s: Seal = self.seals[seal]
    assert s.status != 0, "no such seal"
    assert s.status == PROPOSED, "seal is not waiting for approval"
    assert not self.approved_by[seal][msg.sender], "admin has already approved this seal"
    self.approved_by[seal][msg.sender] = True
    approvals: uint256 = s.approvals + 1
    self.seals[seal].approvals = approvals
    quorum: uint256 = staticcall IdentityRegistry(IDENTITY).quorum()
    log SealApproval(seal=seal, admin=msg.sender, approvals=approvals, quorum=quorum)
    if approvals >= quorum:
        self.seals[seal].status = APPROVED
        self.seals[seal].approved_at = block.timestamp
        log SealApproved(seal=seal, owner=s.owner, cert_fingerprint=s.cert_fingerprint)


@external
def revoke(seal: bytes32, reason_digest: bytes32):
    """The owner or an admin revokes a seal; signatures made before stay as they
    were, later ones are refused."""
    s: Seal = self.seals[seal]
    assert s.status != 0, "no such seal"
    assert s.status != REVOKED, "seal is already revoked"
    assert msg.sender == s.owner or staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, ADMIN), "only the seal's owner or an admin may revoke it"
    self.seals[seal].status = REVOKED
    self.pixel_live[s.pixel_digest] -= 1
    self.seals[seal].revoked_at = block.timestamp
    log SealRevoked(seal=seal, owner=s.owner, by=msg.sender, reason_digest=reason_digest)
