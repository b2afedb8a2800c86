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

# What `attestations` stores: an Attestation without its signer, which is always the
# contract's party at the attestation's index (a fresh storage word per signature saved).
# A stored attestation's certificate fingerprint is never empty (verify_signer returns
# the fingerprint of a certificate, never zero), so an empty one means "not signed".
struct StoredAttestation:
    cert_fingerprint: bytes32
    root_fingerprint: bytes32
    signed_at: uint256

struct PdfSignature:
    sequence: uint256       # 1 for the contract's first signature, 2 for the next, ...
    revision_digest: bytes32
    cms_digest: bytes32
    seal: bytes32

# A contract as stored: the Contract's small fields packed into two words, so that a
# register writes (and a sign reads) fewer storage words. get_contract unpacks it.
#   head:  status (bits 0-7), digest_algorithm (8-15), signed_mask (16-23),
#          void_mask (24-31), registrar (32-191), registered_at (192-255)
#   dates: version (bits 0-127), effective_at (128-255)
# The widths hold every value: a status and an algorithm are small constants, masks have
# one bit per party (MAX_PARTIES = 8), a block time is below 2**64 (checked when stored)
# and versions count up by one from 1.
struct Record:
    head: uint256
    dates: uint256
    project_code: String[MAX_CODE]
    previous: bytes32
    next: bytes32
    doc_digest: bytes32
    parties: DynArray[address, MAX_PARTIES]
    amount: uint256
    metadata_digest: bytes32

BYTE: constant(uint256) = 255
ALGORITHM_SHIFT: constant(uint256) = 8
SIGNED_SHIFT: constant(uint256) = 16
VOID_SHIFT: constant(uint256) = 24
REGISTRAR_SHIFT: constant(uint256) = 32
REGISTERED_SHIFT: constant(uint256) = 192
EFFECTIVE_SHIFT: constant(uint256) = 128
LOW_128: constant(uint256) = 2**128 - 1
ADDRESS_BITS: constant(uint256) = 2**160 - 1

# No Python reads this contract's storage slots (only its views and events): the layout
# below is free to change between builds.
contracts: HashMap[bytes32, Record]
attestations: HashMap[bytes32, HashMap[uint256, StoredAttestation]]
pdf_signatures: HashMap[bytes32, HashMap[uint256, PdfSignature]]
# The revision digest of the contract's latest PDF signature (empty: none yet).
pdf_head: public(HashMap[bytes32, bytes32])
latest: public(HashMap[bytes32, bytes32])
# Highest version number used per project, written only by amendments: a registered
# project without an entry has used version 1 (versions() answers it), which saves
# `register` a fresh storage word.
amended_versions: HashMap[bytes32, uint256]
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


@internal
@pure
def _status(head: uint256) -> uint8:
    return convert(head & BYTE, uint8)


@internal
@pure
def _with_status(head: uint256, status: uint8) -> uint256:
    return (head & ~BYTE) | convert(status, uint256)


@internal
@view
def _contract(id: bytes32) -> Contract:
    """Contract `id` unpacked (all zero: none)."""
    r: Record = self.contracts[id]
    return Contract(
        project_code=r.project_code, version=r.dates & LOW_128, previous=r.previous, next=r.next,
        doc_digest=r.doc_digest, digest_algorithm=convert((r.head >> ALGORITHM_SHIFT) & BYTE, uint8),
        registrar=convert(convert((r.head >> REGISTRAR_SHIFT) & ADDRESS_BITS, uint160), address),
        parties=r.parties, amount=r.amount, metadata_digest=r.metadata_digest, status=self._status(r.head),
        signed_mask=(r.head >> SIGNED_SHIFT) & BYTE, void_mask=(r.head >> VOID_SHIFT) & BYTE,
        registered_at=r.head >> REGISTERED_SHIFT, effective_at=r.dates >> EFFECTIVE_SHIFT,
    )


@external
@view
def get_contract(id: bytes32) -> Contract:
    c: Contract = self._contract(id)
    assert c.status != 0, "no such contract"
    return c


@external
@view
def attestation(id: bytes32, party_index: uint256) -> Attestation:
    a: StoredAttestation = self.attestations[id][party_index]
    if a.cert_fingerprint == empty(bytes32):
        return empty(Attestation)  # not signed (or no such party): all zero, as stored
    # signed: the index is a party's, whose address the contract keeps
    return Attestation(
        signer=self.contracts[id].parties[party_index], cert_fingerprint=a.cert_fingerprint,
        root_fingerprint=a.root_fingerprint, signed_at=a.signed_at,
    )


@internal
@view
def _version_of(project: bytes32) -> uint256:
    amended: uint256 = self.amended_versions[project]
    if amended == 0 and self.latest[project] != empty(bytes32):
        return 1  # registered, never amended (latest is never emptied once set)
    return amended


@external
@view
def versions(arg0: bytes32) -> uint256:
    """The highest version number used for project `arg0` (keccak256 of its code):
    0 unregistered. (Named arg0 as the public getter it replaces was.)"""
    return self._version_of(arg0)


@external
@view
def pdf_signature(id: bytes32, party_index: uint256) -> PdfSignature:
    """The PDF part of party `party_index`'s signature (all zero: none, or signed by `sign`)."""
    return self.pdf_signatures[id][party_index]


@internal
def _store(
    id: bytes32, project_code: String[MAX_CODE], version: uint256, previous: bytes32, doc_digest: bytes32,
    digest_algorithm: uint8, parties: DynArray[address, MAX_PARTIES], amount: uint256, metadata_digest: bytes32,
):
    """Store a new Pending contract version, registered now by the caller.

    Field by field, leaving out fields whose value is zero (next; previous, amount or
    metadata_digest when empty; the masks and effective_at are zero bits of `head`
    and `dates`): a contract's words are written once, under an id never used before
    (version 1 of an unregistered project, or a version number higher than any used),
    so they are zero already; the head read below holds that invariant, and costs
    nothing as it warms the word written next."""
    assert self.contracts[id].head == 0  # an id is stored once (see above)
    assert block.timestamp < 2**64 and version <= LOW_128  # the packed widths (see Record)
    self.contracts[id].head = convert(PENDING, uint256) | (convert(digest_algorithm, uint256) << ALGORITHM_SHIFT) | (
        convert(convert(msg.sender, uint160), uint256) << REGISTRAR_SHIFT) | (block.timestamp << REGISTERED_SHIFT)
    self.contracts[id].dates = version
    self.contracts[id].project_code = project_code
    if previous != empty(bytes32):
        self.contracts[id].previous = previous
    self.contracts[id].doc_digest = doc_digest
    self.contracts[id].parties = parties
    if amount != 0:
        self.contracts[id].amount = amount
    if metadata_digest != empty(bytes32):
        self.contracts[id].metadata_digest = metadata_digest
    count: uint256 = self.contract_count
    self.contract_at[count] = id
    self.contract_count = count + 1
    project: bytes32 = keccak256(project_code)
    self.latest[project] = id
    if version > 1:
        self.amended_versions[project] = version
    log ContractRegistered(
        id=id, project=project, registrar=msg.sender, project_code=project_code,
        version=version, previous=previous, doc_digest=doc_digest, digest_algorithm=digest_algorithm,
        parties=parties, amount=amount, metadata_digest=metadata_digest,
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
    self._store(id, project_code, 1, empty(bytes32), doc_digest, digest_algorithm, parties, amount, metadata_digest)
    return id


@internal
@view
def _party_index(parties: DynArray[address, MAX_PARTIES], who: address) -> uint256:
    for i: uint256 in range(len(parties), bound=MAX_PARTIES):
        if parties[i] == who:
            return i
    raise "caller is not a party to this contract"


@internal
def _attest(id: bytes32, chain_der: Bytes[MAX_CHAIN], signature: Bytes[MAX_SIGNATURE], signed_digest: bytes32) -> (uint256, uint256, bytes32):
    """Record the caller's signature of contract `id` (`signature` over
    `signed_digest`); returns (party index, the number of signatures now,
    certificate fingerprint). Reads only the fields it needs, not the whole Contract
    (each word a storage read)."""
    head: uint256 = self.contracts[id].head
    status: uint8 = self._status(head)
    assert status != 0, "no such contract"
    assert status == PENDING, "contract is not waiting for signatures"
    parties: DynArray[address, MAX_PARTIES] = self.contracts[id].parties
    index: uint256 = self._party_index(parties, msg.sender)
    signed_mask: uint256 = (head >> SIGNED_SHIFT) & BYTE
    assert signed_mask & (1 << index) == 0, "party has already signed"
    cert: bytes32 = empty(bytes32)
    root: bytes32 = empty(bytes32)
    cert, root = staticcall IdentityRegistry(IDENTITY).verify_signer(msg.sender, chain_der, signed_digest, signature)
    self.attestations[id][index] = StoredAttestation(
        cert_fingerprint=cert, root_fingerprint=root, signed_at=block.timestamp,
    )
    mask: uint256 = signed_mask | (1 << index)
    self.contracts[id].head = head | (1 << (SIGNED_SHIFT + index))
    signatures: uint256 = 0
    for i: uint256 in range(len(parties), bound=MAX_PARTIES):
        if mask & (1 << i) != 0:
            signatures += 1
    project_code: String[MAX_CODE] = self.contracts[id].project_code
    log ContractSigned(
        id=id, project=keccak256(project_code), signer=msg.sender, project_code=project_code,
        version=self.contracts[id].dates & LOW_128, doc_digest=self.contracts[id].doc_digest, cert_fingerprint=cert,
        root_fingerprint=root, signatures=signatures, required=len(parties),
    )
    return index, signatures, cert


@internal
def _complete(id: bytes32, signatures: uint256):
    """Make contract `id` Effective once every party has signed (until then it reads
    only the number of parties)."""
    if signatures < len(self.contracts[id].parties):
        return
    project_code: String[MAX_CODE] = self.contracts[id].project_code
    previous: bytes32 = self.contracts[id].previous
    project: bytes32 = keccak256(project_code)
    self.contracts[id].head = self._with_status(self.contracts[id].head, EFFECTIVE)
    dates: uint256 = self.contracts[id].dates
    self.contracts[id].dates = dates | (block.timestamp << EFFECTIVE_SHIFT)  # effective_at was 0
    log ContractEffective(
        id=id, project=project, project_code=project_code, version=dates & LOW_128, previous=previous,
        doc_digest=self.contracts[id].doc_digest, parties=self.contracts[id].parties, amount=self.contracts[id].amount,
    )
    if previous != empty(bytes32):
        self.contracts[previous].head = self._with_status(self.contracts[previous].head, SUPERSEDED)
        log ContractSuperseded(
            id=previous, project=project, by=id, project_code=project_code,
            version=self.contracts[previous].dates & LOW_128,
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
        assert (self.contracts[id].head >> SIGNED_SHIFT) & BYTE == 0, "a party signed this contract without the PDF: use sign"
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
    c: Contract = self._contract(id)
    assert c.status != 0, "no such contract"
    assert c.status == EFFECTIVE, "only an Effective contract can be amended"
    assert c.next == empty(bytes32), "an amendment of this contract is already pending"
    self._check_document(doc_digest, digest_algorithm)
    # numbers are never reused: a voided amendment keeps its own
    version: uint256 = self._version_of(keccak256(c.project_code)) + 1
    new_id: bytes32 = self._id(keccak256(c.project_code), version)
    self.contracts[id].next = new_id
    self._store(new_id, c.project_code, version, id, doc_digest, digest_algorithm, c.parties, amount, metadata_digest)
    return new_id


@external
def void(id: bytes32, reason_digest: bytes32):
    """Void a Pending or Effective contract: at once when a regulator asks,
    otherwise when every party has asked."""
    c: Contract = self._contract(id)
    assert c.status != 0, "no such contract"
    assert c.status == PENDING or c.status == EFFECTIVE, "only a Pending or Effective contract can be voided"
    by_regulator: bool = staticcall IdentityRegistry(IDENTITY).has_role(msg.sender, REGULATOR)
    project: bytes32 = keccak256(c.project_code)
    if not by_regulator:
        index: uint256 = self._party_index(c.parties, msg.sender)
        assert c.void_mask & (1 << index) == 0, "party has already asked to void"
        mask: uint256 = c.void_mask | (1 << index)
        self.contracts[id].head = self.contracts[id].head | (1 << (VOID_SHIFT + index))
        requests: uint256 = 0
        for i: uint256 in range(len(c.parties), bound=MAX_PARTIES):
            if mask & (1 << i) != 0:
                requests += 1
        log VoidRequested(id=id, project=project, party=msg.sender, reason_digest=reason_digest, requests=requests, required=len(c.parties))
        if requests < len(c.parties):
            return
    self.contracts[id].head = self._with_status(self.contracts[id].head, VOIDED)
    if c.status == PENDING and c.previous != empty(bytes32) and self.contracts[c.previous].next == id:
        # a voided amendment frees its predecessor (still Effective) for another one
        self.contracts[c.previous].next = empty(bytes32)
        self.latest[project] = c.previous
    log ContractVoided(
        id=id, project=project, by=msg.sender, project_code=c.project_code, version=c.version,
        doc_digest=c.doc_digest, parties=c.parties, reason_digest=reason_digest, by_regulator=by_regulator,
    )
