#pragma version 0.4.3
#pragma evm-version cancun
"""
@title Contract registry: the e-contract lifecycle of a trading center
@notice Deployed in genesis at 0x0000000000000000000000000000000000001002.
        A TRADING_CENTER member registers a finished project's contract (the
        document digest, never the document); each required party signs the
        digest with its registered certificate (checked by the identity
        registry and the PKI precompile); when all have signed the contract
        is Effective. An amendment is a new linked version that needs every
        signature again and supersedes the old one once Effective. Voiding
        needs every party's request, or one regulator. Every event carries
        what a regulator files, so no second lookup is needed.
        A party signing the contract's PDF (PAdES, with its visible seal)
        calls sign_pdf instead of sign: its certificate key signs a digest
        that binds the contract, the revision it signed on, the revision its
        signature produced, the CMS signature inside it and the seal it
        shows (the party's approved seal in the seal registry, 0x...1005).
        The revisions form a chain: each party signs the previous party's
        output, starting from the registered document, so two parties
        signing at once cannot both succeed. A contract is signed either
        all as a PDF or all by digest, never mixed.
"""

interface IdentityRegistry:
    def has_role(who: address, roles: uint256) -> bool: view
    def verify_signer(signer: address, chain_der: Bytes[24576], digest: bytes32, signature: Bytes[1024]) -> (bytes32, bytes32): view

interface SealRegistry:
    def usable(seal: bytes32, signer: address, cert_fingerprint: bytes32) -> bool: view

IDENTITY: constant(address) = 0x0000000000000000000000000000000000001001
SEALS: constant(address) = 0x0000000000000000000000000000000000001005
TRADING_CENTER: constant(uint256) = 2
REGULATOR: constant(uint256) = 8
ANY_ROLE: constant(uint256) = 127

PENDING: constant(uint8) = 1      # registered or amended, waiting for signatures
EFFECTIVE: constant(uint8) = 2
SUPERSEDED: constant(uint8) = 3   # an amendment became effective
VOIDED: constant(uint8) = 4

PDF_DOMAIN: constant(bytes32) = keccak256("evidence-ledger/contract-pdf-signature/v1")

SHA256: constant(uint8) = 1
SM3: constant(uint8) = 2

MAX_PARTIES: constant(uint256) = 8
MAX_CODE: constant(uint256) = 64
MAX_CHAIN: constant(uint256) = 24576
MAX_SIGNATURE: constant(uint256) = 1024

struct Contract:
    project_code: String[MAX_CODE]
    version: uint256
    previous: bytes32
    next: bytes32
    doc_digest: bytes32
    digest_algorithm: uint8
    registrar: address
    parties: DynArray[address, MAX_PARTIES]
    amount: uint256
    metadata_digest: bytes32
    status: uint8
    signed_mask: uint256
    void_mask: uint256
    registered_at: uint256
    effective_at: uint256

struct Attestation:
    signer: address
    cert_fingerprint: bytes32
    root_fingerprint: bytes32
    signed_at: uint256

struct PdfSignature:
    sequence: uint256       # 1 for the contract's first signature, 2 for the next, ...
    revision_digest: bytes32
    cms_digest: bytes32
    seal: bytes32

contracts: HashMap[bytes32, Contract]
attestations: HashMap[bytes32, HashMap[uint256, Attestation]]
pdf_signatures: HashMap[bytes32, HashMap[uint256, PdfSignature]]
# The revision digest of the contract's latest PDF signature (empty: none yet).
pdf_head: public(HashMap[bytes32, bytes32])
latest: public(HashMap[bytes32, bytes32])
versions: public(HashMap[bytes32, uint256])  # highest version number used per project
contract_count: public(uint256)
contract_at: public(HashMap[uint256, bytes32])

event ContractRegistered:
    id: indexed(bytes32)
    project: indexed(bytes32)
    registrar: indexed(address)
    project_code: String[MAX_CODE]
    version: uint256
    previous: bytes32
    doc_digest: bytes32
    digest_algorithm: uint8
    parties: DynArray[address, MAX_PARTIES]
    amount: uint256
    metadata_digest: bytes32

event ContractSigned:
    id: indexed(bytes32)
    project: indexed(bytes32)
    signer: indexed(address)
    project_code: String[MAX_CODE]
    version: uint256
    doc_digest: bytes32
    cert_fingerprint: bytes32
    root_fingerprint: bytes32
    signatures: uint256
    required: uint256

event ContractPdfSigned:
    id: indexed(bytes32)
    project: indexed(bytes32)
    signer: indexed(address)
    sequence: uint256
    revision_digest: bytes32
    cms_digest: bytes32
    seal: bytes32
    cert_fingerprint: bytes32

event ContractEffective:
    id: indexed(bytes32)
    project: indexed(bytes32)
    project_code: String[MAX_CODE]
    version: uint256
    previous: bytes32
    doc_digest: bytes32
    parties: DynArray[address, MAX_PARTIES]
    amount: uint256

event ContractSuperseded:
    id: indexed(bytes32)
    project: indexed(bytes32)
    by: bytes32
    project_code: String[MAX_CODE]
    version: uint256

event VoidRequested:
    id: indexed(bytes32)
    project: indexed(bytes32)
    party: indexed(address)
    reason_digest: bytes32
    requests: uint256
    required: uint256

event ContractVoided:
    id: indexed(bytes32)
    project: indexed(bytes32)
    by: indexed(address)
    project_code: String[MAX_CODE]
    version: uint256
    doc_digest: bytes32
    parties: DynArray[address, MAX_PARTIES]
    reason_digest: bytes32
    by_regulator: bool


@deploy
def __init__():
    pass


@internal
@pure
def _id(project: bytes32, version: uint256) -> bytes32:
    return keccak256(abi_encode(project, version))


@external
@pure
def contract_id(project_code: String[MAX_CODE], version: uint256) -> bytes32:
    """The id of a contract version: keccak256(abi.encode(keccak256(code), version))."""
    return self._id(keccak256(project_code), version)


@external
@view
def get_contract(id: bytes32) -> Contract:
    c: Contract = self.contracts[id]
    assert c.status != 0, "no such contract"
    return c


@external
@view
def attestation(id: bytes32, party_index: uint256) -> Attestation:
    return self.attestations[id][party_index]


@external
@view
def pdf_signature(id: bytes32, party_index: uint256) -> PdfSignature:
    """The PDF part of party `party_index`'s signature (all zero: none, or signed by `sign`)."""
    return self.pdf_signatures[id][party_index]


@internal
def _store(id: bytes32, c: Contract):
    self.contracts[id] = c
    count: uint256 = self.contract_count
    self.contract_at[count] = id
    self.contract_count = count + 1
    self.latest[keccak256(c.project_code)] = id
    self.versions[keccak256(c.project_code)] = c.version
    log ContractRegistered(
        id=id, project=keccak256(c.project_code), registrar=c.registrar, project_code=c.project_code,
        version=c.version, previous=c.previous, doc_digest=c.doc_digest, digest_algorithm=c.digest_algorithm,
        parties=c.parties, amount=c.amount, metadata_digest=c.metadata_digest,
    )


@internal
@view
def _check_document(doc_digest: bytes32, digest_algorithm: uint8):
    assert doc_digest != empty(bytes32), "document digest is empty"
    assert digest_algorithm == SHA256 or digest_algorithm == SM3, "digest algorithm must be 1 (SHA-256) or 2 (SM3)"


@external
def register(
    project_code: String[MAX_CODE],
    doc_digest: bytes32,
    digest_algorithm: uint8,
    parties: DynArray[address, MAX_PARTIES],
    amount: uint256,
    metadata_digest: bytes32,
) -> bytes32:
    """Register a finished project's contract; `parties` (tenderer, winning bidder,
    ...) must each sign. Returns the contract id (version 1)."""
    assert staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, TRADING_CENTER), "only a trading center may register contracts"
    assert len(project_code) > 0, "project code is empty"
    self._check_document(doc_digest, digest_algorithm)
    assert len(parties) >= 2, "a contract needs at least two parties"
    for i: uint256 in range(len(parties), bound=MAX_PARTIES):
        assert staticcall IdentityRegistry(IDENTITY).has_role(parties[i], ANY_ROLE), "a party is not an active member"
        for j: uint256 in range(i, bound=MAX_PARTIES):
            assert parties[j] != parties[i], "a party is named twice"
    project: bytes32 = keccak256(project_code)
    assert self.latest[project] == empty(bytes32), "project code already registered"
    id: bytes32 = self._id(project, 1)
    self._store(id, Contract(
        project_code=project_code, version=1, previous=empty(bytes32), next=empty(bytes32),
        doc_digest=doc_digest, digest_algorithm=digest_algorithm, registrar=msg.sender, parties=parties,
        amount=amount, metadata_digest=metadata_digest, status=PENDING, signed_mask=0, void_mask=0,
        registered_at=block.timestamp, effective_at=0,
    ))
    return id


@internal
@view
def _party_index(c: Contract, who: address) -> uint256:
    for i: uint256 in range(len(c.parties), bound=MAX_PARTIES):
        if c.parties[i] == who:
            return i
    raise "caller is not a party to this contract"


@internal
def _attest(id: bytes32, chain_der: Bytes[MAX_CHAIN], signature: Bytes[MAX_SIGNATURE], signed_digest: bytes32) -> (uint256, uint256, bytes32):
    """Record the caller's signature of contract `id` (`signature` over
    `signed_digest`); returns (party index, the number of signatures now,
    certificate fingerprint)."""
    c: Contract = self.contracts[id]
    assert c.status != 0, "no such contract"
    assert c.status == PENDING, "contract is not waiting for signatures"
    index: uint256 = self._party_index(c, msg.sender)
    assert c.signed_mask & (1 << index) == 0, "party has already signed"
    cert: bytes32 = empty(bytes32)
    root: bytes32 = empty(bytes32)
    cert, root = staticcall IdentityRegistry(IDENTITY).verify_signer(msg.sender, chain_der, signed_digest, signature)
    self.attestations[id][index] = Attestation(
        signer=msg.sender, cert_fingerprint=cert, root_fingerprint=root, signed_at=block.timestamp,
    )
    mask: uint256 = c.signed_mask | (1 << index)
    self.contracts[id].signed_mask = mask
    signatures: uint256 = 0
    for i: uint256 in range(len(c.parties), bound=MAX_PARTIES):
        if mask & (1 << i) != 0:
            signatures += 1
    log ContractSigned(
        id=id, project=keccak256(c.project_code), signer=msg.sender, project_code=c.project_code,
        version=c.version, doc_digest=c.doc_digest, cert_fingerprint=cert, root_fingerprint=root,
        signatures=signatures, required=len(c.parties),
    )
    return index, signatures, cert


@internal
def _complete(id: bytes32, signatures: uint256):
    """Make contract `id` Effective once every party has signed."""
    c: Contract = self.contracts[id]
    if signatures < len(c.parties):
        return
    project: bytes32 = keccak256(c.project_code)
    self.contracts[id].status = EFFECTIVE
    self.contracts[id].effective_at = block.timestamp
    log ContractEffective(
        id=id, project=project, project_code=c.project_code, version=c.version, previous=c.previous,
        doc_digest=c.doc_digest, parties=c.parties, amount=c.amount,
    )
    if c.previous != empty(bytes32):
        self.contracts[c.previous].status = SUPERSEDED
        log ContractSuperseded(
            id=c.previous, project=project, by=id, project_code=c.project_code,
            version=self.contracts[c.previous].version,
        )


@external
def sign(id: bytes32, chain_der: Bytes[MAX_CHAIN], signature: Bytes[MAX_SIGNATURE]):
    """Sign contract `id`: `signature` over its document digest, made with the key
    of the certificate (chain `chain_der`) the caller registered."""
    assert self.pdf_head[id] == empty(bytes32), "this contract is being signed as a PDF: use sign_pdf"
    index: uint256 = 0
    signatures: uint256 = 0
    cert: bytes32 = empty(bytes32)
    index, signatures, cert = self._attest(id, chain_der, signature, self.contracts[id].doc_digest)
    self._complete(id, signatures)


@external
@view
def pdf_signing_digest(id: bytes32, previous_revision: bytes32, revision_digest: bytes32, cms_digest: bytes32, seal: bytes32) -> bytes32:
    """What a party's certificate key signs in sign_pdf."""
    return keccak256(abi_encode(PDF_DOMAIN, chain.id, self, id, previous_revision, revision_digest, cms_digest, seal))


@external
def sign_pdf(id: bytes32, chain_der: Bytes[MAX_CHAIN], signature: Bytes[MAX_SIGNATURE], previous_revision: bytes32, revision_digest: bytes32, cms_digest: bytes32, seal: bytes32):
    """Sign contract `id` for a party that signed its PDF: `previous_revision` is
    the revision the party signed on (the registered document's digest for the
    first PDF signature, else the latest PDF signature's revision digest),
    `revision_digest` the SHA-256 of the revision the party's PAdES signature
    produced, `cms_digest` the SHA-256 of that signature's CMS, `seal` the seal
    it shows (the caller's approved seal, bound to the certificate it signs
    with); `signature` is the certificate key's over pdf_signing_digest."""
    assert revision_digest != empty(bytes32), "revision digest is empty"
    assert cms_digest != empty(bytes32), "CMS digest is empty"
    head: bytes32 = self.pdf_head[id]
    if head == empty(bytes32):
        assert self.contracts[id].signed_mask == 0, "a party signed this contract without the PDF: use sign"
        head = self.contracts[id].doc_digest
    assert previous_revision == head, "the PDF is not the latest signed revision: sign the last party's output"
    index: uint256 = 0
    signatures: uint256 = 0
    cert: bytes32 = empty(bytes32)
    signed: bytes32 = keccak256(abi_encode(PDF_DOMAIN, chain.id, self, id, previous_revision, revision_digest, cms_digest, seal))
    index, signatures, cert = self._attest(id, chain_der, signature, signed)
    assert staticcall SealRegistry(SEALS).usable(seal, msg.sender, cert), "seal is not the signer's approved seal for this certificate"
    self.pdf_head[id] = revision_digest
    self.pdf_signatures[id][index] = PdfSignature(
        sequence=signatures, revision_digest=revision_digest, cms_digest=cms_digest, seal=seal,
    )
    log ContractPdfSigned(
        id=id, project=keccak256(self.contracts[id].project_code), signer=msg.sender, sequence=signatures,
        revision_digest=revision_digest, cms_digest=cms_digest, seal=seal, cert_fingerprint=cert,
    )
    self._complete(id, signatures)


@external
def amend(id: bytes32, doc_digest: bytes32, digest_algorithm: uint8, amount: uint256, metadata_digest: bytes32) -> bytes32:
    """Amend an Effective contract: a new version, linked to `id`, with the same
    parties, which must all sign again. Returns the new version's id."""
    assert staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, TRADING_CENTER), "only a trading center may amend contracts"
    c: Contract = self.contracts[id]
    assert c.status != 0, "no such contract"
    assert c.status == EFFECTIVE, "only an Effective contract can be amended"
    assert c.next == empty(bytes32), "an amendment of this contract is already pending"
    self._check_document(doc_digest, digest_algorithm)
    # numbers are never reused: a voided amendment keeps its own
    version: uint256 = self.versions[keccak256(c.project_code)] + 1
    new_id: bytes32 = self._id(keccak256(c.project_code), version)
    self.contracts[id].next = new_id
    self._store(new_id, Contract(
        project_code=c.project_code, version=version, previous=id, next=empty(bytes32),
        doc_digest=doc_digest, digest_algorithm=digest_algorithm, registrar=msg.sender, parties=c.parties,
        amount=amount, metadata_digest=metadata_digest, status=PENDING, signed_mask=0, void_mask=0,
        registered_at=block.timestamp, effective_at=0,
    ))
    return new_id


@external
def void(id: bytes32, reason_digest: bytes32):
    """Void a Pending or Effective contract: at once when a regulator asks,
    otherwise when every party has asked."""
    c: Contract = self.contracts[id]
    assert c.status != 0, "no such contract"
    assert c.status == PENDING or c.status == EFFECTIVE, "only a Pending or Effective contract can be voided"
    by_regulator: bool = staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, REGULATOR)
    project: bytes32 = keccak256(c.project_code)
    if not by_regulator:
        index: uint256 = self._party_index(c, msg.sender)
        assert c.void_mask & (1 << index) == 0, "party has already asked to void"
        mask: uint256 = c.void_mask | (1 << index)
        self.contracts[id].void_mask = mask
        requests: uint256 = 0
        for i: uint256 in range(len(c.parties), bound=MAX_PARTIES):
            if mask & (1 << i) != 0:
                requests += 1
        log VoidRequested(id=id, project=project, party=msg.sender, reason_digest=reason_digest, requests=requests, required=len(c.parties))
        if requests < len(c.parties):
            return
    self.contracts[id].status = VOIDED
    if c.status == PENDING and c.previous != empty(bytes32) and self.contracts[c.previous].next == id:
        # a voided amendment frees its predecessor (still Effective) for another one
        self.contracts[c.previous].next = empty(bytes32)
        self.latest[project] = c.previous
    log ContractVoided(
        id=id, project=project, by=msg.sender, project_code=c.project_code, version=c.version,
        doc_digest=c.doc_digest, parties=c.parties, reason_digest=reason_digest, by_regulator=by_regulator,
    )
