#pragma version 0.4.3
#pragma evm-version cancun
"""
@title Identity registry: trusted CA roots, members and revocations
@notice Deployed in genesis at 0x0000000000000000000000000000000000001001.
        Roots are trusted and distrusted, and roles granted, by a quorum of
        admins (a majority of the ADMIN members). Members register with an
        X.509 chain from a trusted CA plus a signature by the certificate's
        key over a digest that binds the chain id, this registry and their
        address. Revocation: by the CA admin named when its root was
        trusted, or by a CRL signed by the issuing CA, submitted by anyone.
        Certificate work runs in the PKI precompile at 0x...0F01.
"""

PKI: constant(address) = 0x0000000000000000000000000000000000000F01

# Roles are bits; a member may hold several (chaincode/roles.py mirrors them).
ADMIN: constant(uint256) = 1
TRADING_CENTER: constant(uint256) = 2
PARTY: constant(uint256) = 4
REGULATOR: constant(uint256) = 8
COURT: constant(uint256) = 16
NOTARY: constant(uint256) = 32
AUDITOR: constant(uint256) = 64
ALL_ROLES: constant(uint256) = 127

# Proposal actions (admin quorum).
TRUST_ROOT: constant(uint8) = 1
DISTRUST_ROOT: constant(uint8) = 2
GRANT_ROLES: constant(uint8) = 3
REVOKE_ROLES: constant(uint8) = 4
SET_CA_ADMIN: constant(uint8) = 5

# Caps mirror evidence/x509.py (MAX_CHAIN_BYTES, MAX_CRL_BYTES, MAX_CRL_ENTRIES).
MAX_CHAIN: constant(uint256) = 24576
MAX_CERT: constant(uint256) = 8192
MAX_SIGNATURE: constant(uint256) = 1024
MAX_CRL: constant(uint256) = 65536
MAX_LINKS: constant(uint256) = 4
MAX_REVOKED: constant(uint256) = 1000
MAX_SUBJECT: constant(uint256) = 256

REGISTRATION_DOMAIN: constant(bytes32) = keccak256("evidence-ledger/member-registration/v1")

struct Member:
    roles: uint256
    cert_fingerprint: bytes32
    key_hash: bytes32
    root_fingerprint: bytes32
    not_after: uint256
    registered_at: uint256
    chain_keys: DynArray[bytes32, MAX_LINKS]

struct Root:
    trusted: bool
    ca_admin: address
    key_hash: bytes32
    not_after: uint256
    changed_at: uint256

struct Proposal:
    action: uint8
    subject: bytes32
    argument: uint256
    proposer: address
    approvals: uint256
    executed: bool
    created_at: uint256

# Genesis writes members[a].roles, admin_count, member_count and roots[fp].trusted
# directly into storage (chaincode/genesis.py); keep these four declared first.
members: public(HashMap[address, Member])
admin_count: public(uint256)
member_count: public(uint256)
roots: public(HashMap[bytes32, Root])
revoked: public(HashMap[bytes32, bool])
certificate_owner: public(HashMap[bytes32, address])
proposals: public(HashMap[uint256, Proposal])
proposal_count: public(uint256)
approved: public(HashMap[uint256, HashMap[address, bool]])
# The chain's crypto profile, fixed in genesis (chaincode.CRYPTO_PROFILES): 0 mixed
# (RSA, ECDSA and SM2 side by side), 1 gm (national: SM2 keys, SM3withSM2 signatures
# only). Nothing here writes it; the PKI precompile reads this slot to apply the profile.
crypto_profile: public(uint256)

event RootProposed:
    proposal: indexed(uint256)
    fingerprint: indexed(bytes32)
    proposer: indexed(address)
    ca_admin: address
    certificate: Bytes[MAX_CERT]

event ProposalCreated:
    proposal: indexed(uint256)
    action: uint8
    subject: bytes32
    argument: uint256
    proposer: indexed(address)

event ProposalApproved:
    proposal: indexed(uint256)
    admin: indexed(address)
    approvals: uint256
    quorum: uint256

event RootTrusted:
    fingerprint: indexed(bytes32)
    ca_admin: address
    proposal: uint256

event RootDistrusted:
    fingerprint: indexed(bytes32)
    proposal: uint256

event CAAdminSet:
    fingerprint: indexed(bytes32)
    ca_admin: address
    proposal: uint256

event RolesChanged:
    member: indexed(address)
    roles: uint256
    proposal: uint256

event MemberRegistered:
    member: indexed(address)
    cert_fingerprint: indexed(bytes32)
    root_fingerprint: indexed(bytes32)
    roles: uint256
    not_after: uint256
    subject: String[MAX_SUBJECT]

event CertificateRevoked:
    revocation_key: indexed(bytes32)
    issuer_key_hash: indexed(bytes32)
    serial: uint256
    by: address

event CRLApplied:
    issuer_key_hash: indexed(bytes32)
    root_fingerprint: indexed(bytes32)
    entries: uint256
    submitter: address


@deploy
def __init__():
    pass


# -- reads ---------------------------------------------------------------------------

@internal
@view
def _chain_revoked(keys: DynArray[bytes32, MAX_LINKS]) -> bool:
    for k: bytes32 in keys:
        if self.revoked[k]:
            return True
    return False


@internal
@view
def _is_active(who: address) -> bool:
    # Field by field, in the order the checks need them: every role check of every
    # registry comes here, and copying the whole Member (seven words and the chain's
    # keys) cost a storage read per word that most answers never look at.
    if self.members[who].roles == 0:
        return False
    if self.members[who].cert_fingerprint == empty(bytes32):
        return True  # a genesis member, admitted by the consortium without a certificate
    if block.timestamp > self.members[who].not_after:
        return False
    if not self.roots[self.members[who].root_fingerprint].trusted:
        return False
    return not self._chain_revoked(self.members[who].chain_keys)


@external
@view
def is_active(who: address) -> bool:
    """True while `who` holds a role and, if registered by certificate, that
    certificate is unexpired, under a trusted root and not revoked."""
    return self._is_active(who)


@external
@view
def has_role(who: address, roles: uint256) -> bool:
    """True if `who` is active and holds at least one of the role bits."""
    return self.members[who].roles & roles != 0 and self._is_active(who)


@external
@view
def roles_of(who: address) -> uint256:
    return self.members[who].roles


@external
@view
def chain_keys_of(who: address) -> DynArray[bytes32, MAX_LINKS]:
    return self.members[who].chain_keys


@internal
@view
def _quorum() -> uint256:
    return self.admin_count // 2 + 1


@external
@view
def quorum() -> uint256:
    return self._quorum()


@external
@view
def registration_digest(who: address) -> bytes32:
    """What a member signs with its certificate key to register `who`."""
    return keccak256(abi_encode(REGISTRATION_DOMAIN, chain.id, self, who))


@internal
@view
def _verified_chain(chain_der: Bytes[MAX_CHAIN], digest: bytes32, signature: Bytes[MAX_SIGNATURE]) -> (bytes32, bytes32, bytes32, uint256, DynArray[bytes32, MAX_LINKS], String[MAX_SUBJECT]):
    response: Bytes[2048] = raw_call(
        PKI,
        abi_encode(chain_der, digest, signature, method_id=method_id("verify(bytes,bytes32,bytes)")),
        max_outsize=2048,
        is_static_call=True,
    )
    leaf: bytes32 = empty(bytes32)
    key_hash: bytes32 = empty(bytes32)
    root: bytes32 = empty(bytes32)
    not_after: uint256 = 0
    keys: DynArray[bytes32, MAX_LINKS] = []
    subject: String[MAX_SUBJECT] = ""
    leaf, key_hash, root, not_after, keys, subject = abi_decode(
        response, (bytes32, bytes32, bytes32, uint256, DynArray[bytes32, MAX_LINKS], String[MAX_SUBJECT])
    )
    assert self.roots[root].trusted, "certificate chain ends at a root that is not trusted"
    assert not self._chain_revoked(keys), "a certificate in the chain is revoked"
    return leaf, key_hash, root, not_after, keys, subject


@external
@view
def verify_signer(signer: address, chain_der: Bytes[MAX_CHAIN], digest: bytes32, signature: Bytes[MAX_SIGNATURE]) -> (bytes32, bytes32):
    """Check that `signer` is an active member and that `signature` over `digest`
    was made with the certificate it registered; returns (certificate
    fingerprint, root fingerprint). Reverts with the reason otherwise."""
    assert self.members[signer].roles != 0, "signer is not a member"
    leaf: bytes32 = empty(bytes32)
    key_hash: bytes32 = empty(bytes32)
    root: bytes32 = empty(bytes32)
    not_after: uint256 = 0
    keys: DynArray[bytes32, MAX_LINKS] = []
    subject: String[MAX_SUBJECT] = ""
    leaf, key_hash, root, not_after, keys, subject = self._verified_chain(chain_der, digest, signature)
    assert leaf == self.members[signer].cert_fingerprint, "certificate is not the one the signer registered"
    assert self._is_active(signer), "signer's membership is not active"
    return leaf, root


# -- members -------------------------------------------------------------------------

@external
def register(chain_der: Bytes[MAX_CHAIN], signature: Bytes[MAX_SIGNATURE]) -> bytes32:
    """Register (or renew) the caller with a certificate chain from a trusted CA.

    `signature` is made with the certificate's key over registration_digest(caller),
    proving that whoever holds the certificate's key controls this address. A new
    member gets the PARTY role; other roles are granted by admin quorum."""
    digest: bytes32 = keccak256(abi_encode(REGISTRATION_DOMAIN, chain.id, self, msg.sender))
    leaf: bytes32 = empty(bytes32)
    key_hash: bytes32 = empty(bytes32)
    root: bytes32 = empty(bytes32)
    not_after: uint256 = 0
    keys: DynArray[bytes32, MAX_LINKS] = []
    subject: String[MAX_SUBJECT] = ""
    leaf, key_hash, root, not_after, keys, subject = self._verified_chain(chain_der, digest, signature)
    owner: address = self.certificate_owner[leaf]
    assert owner == empty(address) or owner == msg.sender, "certificate is registered to another address"
    m: Member = self.members[msg.sender]
    if m.roles == 0:
        m.roles = PARTY
        self.member_count += 1
    if m.cert_fingerprint != empty(bytes32) and m.cert_fingerprint != leaf:
        self.certificate_owner[m.cert_fingerprint] = empty(address)
    m.cert_fingerprint = leaf
    m.key_hash = key_hash
    m.root_fingerprint = root
    m.not_after = not_after
    m.registered_at = block.timestamp
    m.chain_keys = keys
    self.members[msg.sender] = m
    self.certificate_owner[leaf] = msg.sender
    log MemberRegistered(
        member=msg.sender, cert_fingerprint=leaf, root_fingerprint=root,
        roles=m.roles, not_after=not_after, subject=subject,
    )
    return leaf


# -- admin quorum --------------------------------------------------------------------

@internal
def _set_roles(who: address, roles: uint256, proposal: uint256):
    old: uint256 = self.members[who].roles
    if old & ADMIN != 0 and roles & ADMIN == 0:
        assert self.admin_count > 1, "the last admin cannot be removed"
        self.admin_count -= 1
    elif old & ADMIN == 0 and roles & ADMIN != 0:
        self.admin_count += 1
    if old == 0 and roles != 0:
        self.member_count += 1
    elif old != 0 and roles == 0:
        self.member_count -= 1
    self.members[who].roles = roles
    log RolesChanged(member=who, roles=roles, proposal=proposal)


@internal
def _execute(id: uint256):
    p: Proposal = self.proposals[id]
    self.proposals[id].executed = True
    if p.action == TRUST_ROOT:
        self.roots[p.subject].trusted = True
        self.roots[p.subject].ca_admin = convert(convert(p.argument, uint160), address)
        self.roots[p.subject].changed_at = block.timestamp
        log RootTrusted(fingerprint=p.subject, ca_admin=convert(convert(p.argument, uint160), address), proposal=id)
    elif p.action == DISTRUST_ROOT:
        self.roots[p.subject].trusted = False
        self.roots[p.subject].changed_at = block.timestamp
        log RootDistrusted(fingerprint=p.subject, proposal=id)
    elif p.action == SET_CA_ADMIN:
        self.roots[p.subject].ca_admin = convert(convert(p.argument, uint160), address)
        log CAAdminSet(fingerprint=p.subject, ca_admin=convert(convert(p.argument, uint160), address), proposal=id)
    elif p.action == GRANT_ROLES:
        who: address = convert(convert(p.subject, uint256), address)
        self._set_roles(who, self.members[who].roles | p.argument, id)
    elif p.action == REVOKE_ROLES:
        who: address = convert(convert(p.subject, uint256), address)
        self._set_roles(who, self.members[who].roles & ~p.argument, id)


@internal
def _approve(id: uint256):
    assert self.members[msg.sender].roles & ADMIN != 0 and self._is_active(msg.sender), "only an admin may approve"
    p: Proposal = self.proposals[id]
    assert p.action != 0, "no such proposal"
    assert not p.executed, "proposal already executed"
    assert not self.approved[id][msg.sender], "already approved by this admin"
    self.approved[id][msg.sender] = True
    approvals: uint256 = p.approvals + 1
    self.proposals[id].approvals = approvals
    log ProposalApproved(proposal=id, admin=msg.sender, approvals=approvals, quorum=self._quorum())
    if approvals >= self._quorum():
        self._execute(id)


@internal
def _new_proposal(action: uint8, subject: bytes32, argument: uint256) -> uint256:
    assert self.members[msg.sender].roles & ADMIN != 0 and self._is_active(msg.sender), "only an admin may propose"
    id: uint256 = self.proposal_count + 1
    self.proposal_count = id
    self.proposals[id] = Proposal(
        action=action, subject=subject, argument=argument, proposer=msg.sender,
        approvals=0, executed=False, created_at=block.timestamp,
    )
    log ProposalCreated(proposal=id, action=action, subject=subject, argument=argument, proposer=msg.sender)
    return id


@external
def propose_trust_root(certificate: Bytes[MAX_CERT], ca_admin: address) -> uint256:
    """Propose trusting a CA root (DER); `ca_admin` may then revoke certificates
    under it. The proposer's approval counts; it executes at quorum."""
    response: Bytes[96] = raw_call(
        PKI,
        abi_encode(certificate, method_id=method_id("inspectRoot(bytes)")),
        max_outsize=96,
        is_static_call=True,
    )
    fingerprint: bytes32 = empty(bytes32)
    key_hash: bytes32 = empty(bytes32)
    not_after: uint256 = 0
    fingerprint, key_hash, not_after = abi_decode(response, (bytes32, bytes32, uint256))
    assert not self.roots[fingerprint].trusted, "root is already trusted"
    self.roots[fingerprint].key_hash = key_hash
    self.roots[fingerprint].not_after = not_after
    id: uint256 = self._new_proposal(TRUST_ROOT, fingerprint, convert(convert(ca_admin, uint160), uint256))
    log RootProposed(proposal=id, fingerprint=fingerprint, proposer=msg.sender, ca_admin=ca_admin, certificate=certificate)
    self._approve(id)
    return id


@external
def propose(action: uint8, subject: bytes32, argument: uint256) -> uint256:
    """Propose DISTRUST_ROOT(fingerprint), SET_CA_ADMIN(fingerprint, admin),
    GRANT_ROLES(member, bits) or REVOKE_ROLES(member, bits)."""
    assert action >= DISTRUST_ROOT and action <= SET_CA_ADMIN, "unknown proposal action"
    if action == DISTRUST_ROOT:
        assert self.roots[subject].trusted, "root is not trusted"
    elif action == SET_CA_ADMIN:
        assert self.roots[subject].trusted, "root is not trusted"
        assert argument < 2**160, "CA admin must be an address"
    else:
        assert convert(subject, uint256) < 2**160, "member must be an address"
        assert argument != 0 and argument & ~ALL_ROLES == 0, "unknown role bits"
    id: uint256 = self._new_proposal(action, subject, argument)
    self._approve(id)
    return id


@external
def approve(id: uint256):
    """Approve a pending proposal; it executes when approvals reach quorum."""
    self._approve(id)


# -- revocation ----------------------------------------------------------------------

@external
def revoke(issuer_chain: Bytes[MAX_CHAIN], serials: DynArray[uint256, 64]):
    """Revoke certificates by serial, as the admin of the CA whose root ends
    `issuer_chain` (the issuing CA's certificate first)."""
    response: Bytes[4096] = raw_call(
        PKI,
        abi_encode(issuer_chain, serials, method_id=method_id("issuer(bytes,uint256[])")),
        max_outsize=4096,
        is_static_call=True,
    )
    root: bytes32 = empty(bytes32)
    issuer_key_hash: bytes32 = empty(bytes32)
    keys: DynArray[bytes32, 64] = []
    root, issuer_key_hash, keys = abi_decode(response, (bytes32, bytes32, DynArray[bytes32, 64]))
    assert self.roots[root].trusted, "issuer chain ends at a root that is not trusted"
    assert self.roots[root].ca_admin == msg.sender, "only the CA's admin may revoke its certificates"
    for i: uint256 in range(len(keys), bound=64):
        self.revoked[keys[i]] = True
        log CertificateRevoked(revocation_key=keys[i], issuer_key_hash=issuer_key_hash, serial=serials[i], by=msg.sender)


@external
def submit_crl(crl: Bytes[MAX_CRL], issuer_chain: Bytes[MAX_CHAIN]):
    """Apply a CRL signed by the issuing CA (whose chain, ending at a trusted root,
    is `issuer_chain`). Anyone may submit: the CA's signature is the authority."""
    response: Bytes[33024] = raw_call(
        PKI,
        abi_encode(crl, issuer_chain, method_id=method_id("crl(bytes,bytes)")),
        max_outsize=33024,
        is_static_call=True,
    )
    root: bytes32 = empty(bytes32)
    issuer_key_hash: bytes32 = empty(bytes32)
    keys: DynArray[bytes32, MAX_REVOKED] = []
    root, issuer_key_hash, keys = abi_decode(response, (bytes32, bytes32, DynArray[bytes32, MAX_REVOKED]))
    assert self.roots[root].trusted, "CRL issuer chain ends at a root that is not trusted"
    for k: bytes32 in keys:
        self.revoked[k] = True
    log CRLApplied(issuer_key_hash=issuer_key_hash, root_fingerprint=root, entries=len(keys), submitter=msg.sender)
