"""RFC 3161 trusted time: time-stamp requests, responses, and offline verification of a token.

A time-stamp token is a CMS SignedData (RFC 5652) whose signed content is a TSTInfo: a
time-stamping authority (TSA) signs "this digest existed at genTime". The ledger asks
for one token per anchored batch, over the batch root: the message imprint's hash
algorithm is SHA-256 and its hashedMessage is the 32-byte root itself (not a hash of
it), exactly as `openssl ts -query -digest ROOT_HEX -sha256` and
`openssl ts -verify -digest ROOT_HEX` treat it.

`verify_timestamp` is a pure function of its arguments — the token, the digest, the
roots the caller trusts, the block time — and checks, in this order, raising
`TimestampError` whose `step` names the first check that failed:

1. structure          the token is a DER ContentInfo holding a SignedData whose content
                      is a TSTInfo (version 1, a policy, a positive serial of at most 160
                      bits, a genTime, no critical extension), signed by exactly one
                      SignerInfo, within the size caps below;
2. message imprint    the TSTInfo's imprint is SHA-256 and its hashedMessage is the
                      expected 32-byte digest;
3. signer             the certificate the SignerInfo names (issuer and serial, or subject
                      key identifier) is among the token's certificates or the caller's
                      `untrusted` ones;
4. signed attributes  present, each type once with one value: content-type is
                      id-ct-TSTInfo, message-digest is the hash of the TSTInfo as signed,
                      and an ESSCertIDv2 (RFC 5816) or ESSCertID (RFC 2634) names the
                      signer certificate by its hash (and issuer and serial, if given);
5. signature          the signer certificate's key (RSA 2048-8192 bits, or EC P-256 or
                      P-384) verifies the signature over the DER signed attributes:
                      RSA PKCS#1 v1.5 or RSASSA-PSS, or ECDSA, with SHA-256/384/512;
6. key usage          the signer certificate is not a CA, carries a critical
                      extendedKeyUsage that is timeStamping and nothing else
                      (RFC 3161 §2.3), and its keyUsage, if present, allows
                      digitalSignature or nonRepudiation;
7. certificate chain  it chains to one of `roots` at genTime (cryptography's path
                      builder: names, signatures, validity, CA constraints; a CA that
                      restricts its extendedKeyUsage must allow timeStamping);
8. time               when `not_after` (the block time) is given, genTime is not later
                      than `not_after + tolerance`.

Nothing here reads the clock, the network or a random source: the request's nonce comes
in as an argument. Certificate revocation is not checked — a TSA certificate revoked
after the token was made does not undo the time it vouched for (RFC 3161 §4, and a
court relies on the root it was given).

ASN.1 structures are read and written with asn1crypto, signatures and certificate paths
are checked with `cryptography`; no DER is parsed by hand. (Over 600 lines: the request,
the response and the eight verification steps of one protocol, in the order a court
reads them.)
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from asn1crypto import algos, cms, core, tsp, x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from evidence.errors import EvidenceError

# The checks verify_timestamp makes, in order (TimestampError.step is one of these, or
# "response" for a TSA's answer that is not a usable token: parse_response).
STEPS = ("structure", "message imprint", "signer", "signed attributes", "signature", "key usage",
         "certificate chain", "time")

DIGEST_LENGTH = 32  # SHA-256: the batch root is the hashed message
# A token is a TSTInfo (~100 bytes), one signature (at most 1 KiB, RSA-8192) and the
# certificates the TSA sends with certReq (real ones: 1-3 certificates of 1-2 KiB each).
# 64 KiB is several times the largest seen and bounds what a receipt can make us parse.
MAX_TOKEN_BYTES = 64 * 1024
# A response is the token plus a status; the status text of a refusal is a sentence.
MAX_RESPONSE_BYTES = MAX_TOKEN_BYTES + 4096
# Certificates in a token's bag (plus the caller's untrusted ones) that the path builder
# may try: a TSA sends its own and at most its CA chain; more only costs us signatures.
MAX_CERTIFICATES = 8
# Intermediate CAs between the TSA certificate and a root (cryptography's chain depth):
# public TSA hierarchies are root -> 1 or 2 issuing CAs -> TSA; a consortium's is shorter.
MAX_CHAIN_DEPTH = 3
# RFC 3161 §2.4.2: serialNumber "MUST be able to handle up to 160 bits".
MAX_SERIAL_BITS = 160
# How much later than the block the TSA's time may be and still corroborate it. This is
# the default for a caller that does not know when the token was asked for; receipts are
# checked with evidence.receipt.DEFAULT_TSA_TOLERANCE (30 s), because client/anchoring.py
# asks before it sends the transaction. The TSA's and the validators'
# clocks are each disciplined to well under a second (validators refuse blocks more than
# 2 s ahead of their own clock). Five minutes covers that with room; a token later than
# that no longer says when the block was made, so it is refused rather than reported.
DEFAULT_TOLERANCE = timedelta(minutes=5)
# The largest RSA key we check a signature with (as evidence/x509.py: cost grows with size).
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192

TST_INFO_CONTENT_TYPE = "1.2.840.113549.1.9.16.1.4"  # id-ct-TSTInfo
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# ESSCertID(v2) name a certificate by its hash; SHA-1 is what RFC 2634's ESSCertID
# fixes (openssl's TSA still sends it by default). It only identifies a certificate
# the signature and path checks have already tied to the signer, so it is accepted here.
_CERT_ID_HASHES = ("sha1", "sha256", "sha384", "sha512")
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}
_SIGNATURE_ALGORITHMS = {
    # asn1crypto's name -> (our family, the hash the OID fixes or None)
    "rsassa_pkcs1v15": ("rsa", None),  # rsaEncryption: the hash is the digestAlgorithm
    "sha256_rsa": ("rsa", "sha256"),
    "sha384_rsa": ("rsa", "sha384"),
    "sha512_rsa": ("rsa", "sha512"),
    "rsassa_pss": ("pss", None),
    "sha256_ecdsa": ("ecdsa", "sha256"),
    "sha384_ecdsa": ("ecdsa", "sha384"),
    "sha512_ecdsa": ("ecdsa", "sha512"),
}
# RFC 3161 §2.4.2 PKIFailureInfo, in the RFC's words.
FAILURE_TEXT = {
    "bad_alg": "unrecognized or unsupported algorithm identifier",
    "bad_request": "transaction not permitted or supported",
    "bad_data_format": "the data submitted has the wrong format",
    "time_not_available": "the TSA's time source is not available",
    "unaccepted_policy": "the requested TSA policy is not supported by the TSA",
    "unaccepted_extensions": "the requested extension is not supported by the TSA",
    "add_info_not_available": "the additional information requested could not be understood or is not available",
    "system_failure": "the request cannot be handled due to system failure",
}
# What asn1crypto raises on input it cannot parse (it parses lazily, on first access).
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


class TimestampError(EvidenceError):
    """A time-stamp token, request or response that does not hold; `step` names the check."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class TimestampRefused(TimestampError):
    """The TSA answered with a status other than granted: `status`, `failures` (RFC 3161
    PKIFailureInfo names, e.g. "bad_alg") and its own `text`, if it sent one."""

    def __init__(self, status: str, failures: tuple[str, ...], text: str | None) -> None:
        words = "; ".join(f"{name} ({FAILURE_TEXT.get(name, 'unknown failure')})" for name in failures)
        reason = f"the TSA answered {status}" + (f": {words}" if words else "") + (f" — {text!r}" if text else "")
        super().__init__("response", reason)
        self.status = status
        self.failures = failures
        self.text = text


class TimeStampResp(core.Sequence):
    """RFC 3161 §2.4.2 TimeStampResp. asn1crypto 1.5.1's own `tsp.TimeStampResp` lacks the
    OPTIONAL on timeStampToken, so a refusal (status only, no token) would neither parse
    nor build with it; this is the same structure with the RFC's OPTIONAL."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _fail(step: str, reason: str) -> NoReturn:
    raise TimestampError(step, reason)


# -- requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class TimestampRequest:
    """A TimeStampReq over a 32-byte digest (SHA-256 imprint), as the ledger sends it.

    `nonce` ties the answer to this request (the caller draws it at random: 64 bits is
    RFC 3161's example); `cert_req` asks the TSA to put its certificate in the token,
    which a verifier holding only the TSA's root needs; `policy` (a dotted OID) asks for
    a particular TSA policy.
    """

    digest: bytes
    nonce: int
    cert_req: bool = True
    policy: str | None = None

    def __post_init__(self) -> None:
        if len(self.digest) != DIGEST_LENGTH:
            raise ValueError(f"the digest must be {DIGEST_LENGTH} bytes (SHA-256), got {len(self.digest)}")
        if not 0 < self.nonce < 2**MAX_SERIAL_BITS:
            raise ValueError(f"the nonce must be a positive integer of at most {MAX_SERIAL_BITS} bits")

    def to_der(self) -> bytes:
        request = tsp.TimeStampReq({
            "version": "v1",
            "message_imprint": _imprint(self.digest),
            "nonce": self.nonce,
            "cert_req": self.cert_req,
        })
        if self.policy is not None:
            request["req_policy"] = self.policy
        return bytes(request.dump())


def _imprint(digest: bytes) -> tsp.MessageImprint:
    return tsp.MessageImprint({
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
        "hashed_message": digest,
    })


# -- tokens, unverified ----------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    """What a token's TSTInfo says, before any check of who signed it."""

    time: datetime            # genTime, UTC
    accuracy: timedelta | None
    serial: int
    policy: str               # dotted OID
    hash_algorithm: str       # of the message imprint, as asn1crypto names it ("sha256")
    hashed_message: bytes
    nonce: int | None
    ordering: bool
    tsa_name: str | None      # the TSTInfo's optional tsa field, as text


@dataclass(frozen=True)
class _Certificate:
    """One certificate, as asn1crypto reads it (names for matching) and as cryptography does."""

    asn1: asn1_x509.Certificate
    cert: x509.Certificate


@dataclass(frozen=True)
class _Token:
    """A token parsed once: the pieces the later steps read."""

    info: TokenInfo
    signed_data: cms.SignedData
    signer_info: cms.SignerInfo
    econtent: bytes           # the TSTInfo's DER, exactly as signed
    certificates: tuple[_Certificate, ...]


def parse_token(token_der: bytes) -> TokenInfo:
    """A token's TSTInfo, after step 1 (structure) only: nothing here says who signed it."""
    return _parse_token(token_der).info


def _parse_token(token_der: bytes) -> _Token:
    # 1. structure
    step = "structure"
    if not isinstance(token_der, (bytes, bytearray)):
        _fail(step, "the token must be bytes (DER)")
    if len(token_der) > MAX_TOKEN_BYTES:
        _fail(step, f"the token is {len(token_der)} bytes, more than the {MAX_TOKEN_BYTES} allowed")
    try:
        content_info = cms.ContentInfo.load(bytes(token_der), strict=True)
        content_type = content_info["content_type"].dotted
    except _PARSE_ERRORS as exc:
        _fail(step, f"not a DER CMS ContentInfo: {exc}")
    if content_type != "1.2.840.113549.1.7.2":
        _fail(step, f"the ContentInfo holds {content_type}, not a SignedData")
    try:
        signed_data = content_info["content"]
        encap = signed_data["encap_content_info"]
        econtent_type = encap["content_type"].dotted
        signer_infos = list(signed_data["signer_infos"])
        bag = signed_data["certificates"]
        choices = [] if isinstance(bag, core.Void) else list(bag)
    except _PARSE_ERRORS as exc:
        _fail(step, f"the SignedData is malformed: {exc}")
    if econtent_type != TST_INFO_CONTENT_TYPE:
        _fail(step, f"the signed content is {econtent_type}, not a TSTInfo (id-ct-TSTInfo)")
    if len(signer_infos) != 1:
        _fail(step, f"a token is signed once, by the TSA; this one has {len(signer_infos)} signatures")
    if len(choices) > MAX_CERTIFICATES:
        _fail(step, f"the token carries {len(choices)} certificates, more than the {MAX_CERTIFICATES} allowed")
    certificates = []
    for index, choice in enumerate(choices):
        if choice.name != "certificate":
            continue  # attribute certificates and the like say nothing about the signer
        try:
            certificates.append(_Certificate(choice.chosen, x509.load_der_x509_certificate(bytes(choice.dump()))))
        except _PARSE_ERRORS as exc:
            _fail(step, f"certificate {index} in the token is malformed: {exc}")
    try:
        econtent_value = encap["content"]
        if isinstance(econtent_value, core.Void):
            _fail(step, "the SignedData does not carry its TSTInfo")
        econtent = bytes(econtent_value.contents)
        tst_info = tsp.TSTInfo.load(econtent, strict=True)
        info = _token_info(tst_info)
    except TimestampError:
        raise
    except _PARSE_ERRORS as exc:
        _fail(step, f"the TSTInfo is malformed: {exc}")
    return _Token(info=info, signed_data=signed_data, signer_info=signer_infos[0], econtent=econtent,
                  certificates=tuple(certificates))


def _token_info(tst_info: tsp.TSTInfo) -> TokenInfo:
    step = "structure"
    if tst_info["version"].native != "v1":
        _fail(step, f"TSTInfo version {tst_info['version'].native} is not 1")
    serial = tst_info["serial_number"].native
    if serial <= 0 or serial.bit_length() > MAX_SERIAL_BITS:
        _fail(step, f"the serial number must be positive and at most {MAX_SERIAL_BITS} bits")
    gen_time = tst_info["gen_time"].native
    if not isinstance(gen_time, datetime) or gen_time.tzinfo is None:
        _fail(step, "genTime is not a UTC date and time")
    extensions = tst_info["extensions"]
    if not isinstance(extensions, core.Void):
        for extension in extensions:
            if extension["critical"].native:
                _fail(step, f"the TSTInfo has a critical extension we do not process: {extension['extn_id'].dotted}")
    imprint = tst_info["message_imprint"]
    tsa = tst_info["tsa"]
    nonce = tst_info["nonce"]
    return TokenInfo(
        time=gen_time.astimezone(UTC),
        accuracy=_accuracy(tst_info["accuracy"]),
        serial=serial,
        policy=tst_info["policy"].dotted,
        hash_algorithm=imprint["hash_algorithm"]["algorithm"].native,
        hashed_message=bytes(imprint["hashed_message"].native),
        nonce=None if isinstance(nonce, core.Void) else nonce.native,
        ordering=bool(tst_info["ordering"].native),
        tsa_name=None if isinstance(tsa, core.Void) else _general_name_text(tsa),
    )


def _accuracy(accuracy: Any) -> timedelta | None:
    if isinstance(accuracy, core.Void):
        return None
    parts = {name: accuracy[name].native for name in ("seconds", "millis", "micros")}
    for name in ("millis", "micros"):
        if parts[name] is not None and not 1 <= parts[name] <= 999:
            _fail("structure", f"accuracy {name} must be 1-999, not {parts[name]}")
    if parts["seconds"] is not None and parts["seconds"] < 0:
        _fail("structure", "accuracy seconds must not be negative")
    return timedelta(seconds=parts["seconds"] or 0, milliseconds=parts["millis"] or 0,
                     microseconds=parts["micros"] or 0)


def _general_name_text(name: asn1_x509.GeneralName) -> str:
    if name.name == "directory_name":
        return str(name.chosen.human_friendly)
    return f"{name.name}:{name.native}"


# -- responses -------------------------------------------------------------------------


def parse_response(response_der: bytes, request: TimestampRequest | None = None) -> bytes:
    """The token (DER) in a TimeStampResp, or `TimestampRefused` with the TSA's reasons.

    With the `request` it answers, the token must also be over the request's digest,
    echo its nonce, and carry the policy it asked for — else step "response". Who
    signed the token is `verify_timestamp`'s business, not this function's.
    """
    step = "response"
    if len(response_der) > MAX_RESPONSE_BYTES:
        _fail(step, f"the TSA's answer is {len(response_der)} bytes, more than the {MAX_RESPONSE_BYTES} allowed")
    try:
        response = TimeStampResp.load(bytes(response_der), strict=True)
        status_info = response["status"]
        status = status_info["status"].native
        failure_info = status_info["fail_info"]
        failures = () if isinstance(failure_info, core.Void) else tuple(sorted(failure_info.native))
        texts = status_info["status_string"]
        text = None if isinstance(texts, core.Void) else " ".join(str(t) for t in texts.native)
        token = response["time_stamp_token"]
        token_der = None if isinstance(token, core.Void) else bytes(token.dump())
    except _PARSE_ERRORS as exc:
        _fail(step, f"not a DER TimeStampResp: {exc}")
    if status not in ("granted", "granted_with_mods"):
        raise TimestampRefused(str(status), failures, text)
    if token_der is None:
        _fail(step, f"the TSA answered {status} but sent no token")
    try:
        info = parse_token(token_der)
    except TimestampError as exc:
        _fail(step, f"the token is not readable: {exc.reason}")
    if request is not None:
        if info.hash_algorithm != "sha256" or info.hashed_message != request.digest:
            _fail(step, "the token is over another digest than the one requested")
        if info.nonce != request.nonce:
            _fail(step, "the token does not echo the request's nonce (a replayed or misdirected answer)")
        if request.policy is not None and info.policy != request.policy:
            _fail(step, f"the token's policy {info.policy} is not the one requested ({request.policy})")
    return token_der


# -- verification ----------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedTimestamp:
    """A token that passed every step: the TSA's time and who vouches for it."""

    time: datetime                      # genTime, UTC
    accuracy: timedelta | None
    serial: int
    policy: str                         # dotted OID
    tsa_subject: str                    # RFC 4514 subject of the signer certificate
    tsa_name: str | None                # the TSTInfo's optional tsa field
    nonce: int | None
    chain: tuple[x509.Certificate, ...]  # signer certificate first, up to the root used
    digest_algorithm: str               # of the signature ("sha256")
    signature_algorithm: str            # "ecdsa", "rsa" (PKCS#1 v1.5) or "rsassa-pss"

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1]


def verify_timestamp(
    token_der: bytes,
    expected_digest: bytes,
    roots: Sequence[x509.Certificate],
    *,
    not_after: datetime | int | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    untrusted: Sequence[x509.Certificate] = (),
) -> VerifiedTimestamp:
    """Check a time-stamp token over `expected_digest` (steps 1-8 of the module docstring).

    `roots` are the TSA roots the caller trusts; `not_after` the block time (unix seconds
    or an aware datetime) the TSA time may not exceed by more than `tolerance`;
    `untrusted` more certificates to build the path from (a token made without certReq
    carries none). Raises TimestampError naming the first step that fails.
    """
    if len(expected_digest) != DIGEST_LENGTH:
        raise ValueError(f"the expected digest must be {DIGEST_LENGTH} bytes, got {len(expected_digest)}")
    if not roots:
        raise ValueError("no TSA root given: a token is only as good as the root it chains to")
    # 1. structure
    token = _parse_token(token_der)
    info = token.info

    # 2. message imprint: SHA-256, and the hashed message is the digest itself.
    step = "message imprint"
    if info.hash_algorithm != "sha256":
        _fail(step, f"the imprint's hash algorithm is {info.hash_algorithm}, not SHA-256")
    if info.hashed_message != bytes(expected_digest):
        _fail(step, f"the token is over {info.hashed_message.hex()}, not {bytes(expected_digest).hex()}")

    # 3. signer: the certificate the SignerInfo names.
    candidates = [*token.certificates, *(_Certificate(_to_asn1(c), c) for c in untrusted)]
    if len(candidates) > MAX_CERTIFICATES:
        _fail("signer", f"{len(candidates)} certificates to consider, more than the {MAX_CERTIFICATES} allowed")
    found = _find_signer(token.signer_info, candidates)
    signer = found.cert

    # 4. signed attributes
    digest_name = _check_signed_attributes(token, found.asn1)

    # 5. signature
    signature_name = _check_signature(token.signer_info, signer, digest_name)

    # 6. key usage: a TSA certificate, and only that (RFC 3161 §2.3).
    _check_key_usage(signer)

    # 7. certificate chain, at the TSA's time.
    others = [c.cert for c in candidates if c is not found]
    chain = _check_chain(signer, others, roots, info.time)

    # 8. time: not after the block by more than the tolerance. The TSA vouches for genTime
    # only within its stated accuracy, so the latest it may have been is what is compared.
    if not_after is not None:
        limit = _as_datetime(not_after)
        latest = info.time + (info.accuracy or timedelta(0))
        if latest > limit + tolerance:
            within = f" (± {_duration(info.accuracy)})" if info.accuracy else ""
            _fail("time", f"the TSA's time {_text(info.time)}{within} may be {_duration(latest - limit)} after the "
                          f"block's {_text(limit)}, more than the {_duration(tolerance)} allowed")

    return VerifiedTimestamp(
        time=info.time, accuracy=info.accuracy, serial=info.serial, policy=info.policy,
        tsa_subject=signer.subject.rfc4514_string(), tsa_name=info.tsa_name, nonce=info.nonce,
        chain=chain, digest_algorithm=digest_name, signature_algorithm=signature_name,
    )


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _find_signer(signer_info: cms.SignerInfo, candidates: list[_Certificate]) -> _Certificate:
    step = "signer"
    try:
        sid = signer_info["sid"]
        if sid.name == "issuer_and_serial_number":
            issuer = sid.chosen["issuer"]
            serial = sid.chosen["serial_number"].native
            matches = [c for c in candidates if c.asn1.serial_number == serial and c.asn1.issuer == issuer]
            wanted = f"issuer {issuer.human_friendly}, serial {serial}"
        else:
            key_id = bytes(sid.chosen.native)
            matches = [c for c in candidates if c.asn1.key_identifier == key_id]
            wanted = f"subject key identifier {key_id.hex()}"
    except _PARSE_ERRORS as exc:
        _fail(step, f"the SignerInfo's signer identifier is malformed: {exc}")
    if not matches:
        where = "the token carries no certificates (was it requested without certReq?)" if not candidates \
            else "none of the certificates given has it"
        _fail(step, f"the signer certificate ({wanted}) is not available: {where}")
    return matches[0]


def _check_signed_attributes(token: _Token, signer: asn1_x509.Certificate) -> str:
    """Step 4; returns the SignerInfo's digest algorithm name."""
    step = "signed attributes"
    signer_info = token.signer_info
    try:
        digest_name = signer_info["digest_algorithm"]["algorithm"].native
        attributes = signer_info["signed_attrs"]
        present = not isinstance(attributes, core.Void)
        values: dict[str, list[Any]] = {}
        if present:
            for attribute in attributes:
                kind = attribute["type"].native
                if kind in values:
                    _fail(step, f"the attribute {kind} appears twice")
                values[kind] = list(attribute["values"])
    except TimestampError:
        raise
    except _PARSE_ERRORS as exc:
        _fail(step, f"malformed signed attributes: {exc}")
    if not present:
        _fail(step, "there are none (RFC 3161 requires content-type, message-digest and the signing certificate)")
    if digest_name not in _HASHES:
        _fail(step, f"the digest algorithm {digest_name} is not accepted (SHA-256, SHA-384 or SHA-512)")

    content_type = _single(values, "content_type")
    if content_type.dotted != TST_INFO_CONTENT_TYPE:
        _fail(step, f"content-type is {content_type.dotted}, not id-ct-TSTInfo")
    message_digest = bytes(_single(values, "message_digest").native)
    if message_digest != _digest(digest_name, token.econtent):
        _fail(step, "message-digest is not the hash of the TSTInfo (the signed content was changed)")

    signer_der = bytes(signer.dump())
    if "signing_certificate_v2" not in values and "signing_certificate" not in values:
        _fail(step, "no signing-certificate attribute (ESSCertID or ESSCertIDv2) binds the signer certificate")
    if "signing_certificate_v2" in values:
        certs = list(_single(values, "signing_certificate_v2")["certs"])
        if not certs:
            _fail(step, "the ESSCertIDv2 list is empty")
        first = certs[0]
        hash_name = first["hash_algorithm"]["algorithm"].native
        _check_cert_id(step, "ESSCertIDv2", hash_name, bytes(first["cert_hash"].native), first["issuer_serial"],
                       signer, signer_der)
    if "signing_certificate" in values:
        certs = list(_single(values, "signing_certificate")["certs"])
        if not certs:
            _fail(step, "the ESSCertID list is empty")
        first = certs[0]
        _check_cert_id(step, "ESSCertID", "sha1", bytes(first["cert_hash"].native), first["issuer_serial"],
                       signer, signer_der)
    return str(digest_name)


def _single(values: dict[str, list[Any]], kind: str) -> Any:
    found = values.get(kind)
    if found is None:
        _fail("signed attributes", f"{kind.replace('_', '-')} is missing")
    if len(found) != 1:
        _fail("signed attributes", f"{kind.replace('_', '-')} must have exactly one value, not {len(found)}")
    return found[0]


def _check_cert_id(step: str, what: str, hash_name: str, cert_hash: bytes, issuer_serial: Any,
                   signer: asn1_x509.Certificate, signer_der: bytes) -> None:
    if hash_name not in _CERT_ID_HASHES:
        _fail(step, f"{what} uses the hash {hash_name} (accepted: {', '.join(_CERT_ID_HASHES)})")
    if hashlib.new(hash_name, signer_der).digest() != cert_hash:
        _fail(step, f"{what} names another certificate than the signer's ({signer.subject.human_friendly})")
    if isinstance(issuer_serial, core.Void):
        return
    try:
        names = [n.chosen for n in issuer_serial["issuer"] if n.name == "directory_name"]
        serial = issuer_serial["serial_number"].native
    except _PARSE_ERRORS as exc:
        _fail(step, f"{what} issuerSerial is malformed: {exc}")
    if serial != signer.serial_number or signer.issuer not in names:
        _fail(step, f"{what} issuerSerial names another certificate than the signer's")


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def _check_signature(signer_info: cms.SignerInfo, signer: x509.Certificate, digest_name: str) -> str:
    """Step 5; returns the signature scheme's name."""
    step = "signature"
    try:
        algorithm = signer_info["signature_algorithm"]
        name = algorithm["algorithm"].native
        signature = bytes(signer_info["signature"].native)
        # The signature is over the DER of the signed attributes with their SET OF tag
        # (RFC 5652 §5.4), not the [0] IMPLICIT tag they carry inside the SignerInfo.
        encoded = bytes(signer_info["signed_attrs"].dump())
        signed = b"\x31" + encoded[1:]
    except _PARSE_ERRORS as exc:
        _fail(step, f"malformed signature fields: {exc}")
    if name not in _SIGNATURE_ALGORITHMS:
        _fail(step, f"the signature algorithm {name} is not accepted (RSA PKCS#1 v1.5, RSASSA-PSS or ECDSA "
                    "with SHA-256/384/512)")
    family, fixed_hash = _SIGNATURE_ALGORITHMS[name]
    if fixed_hash is not None and fixed_hash != digest_name:
        _fail(step, f"the signature algorithm {name} does not match the digest algorithm {digest_name}")
    try:
        key = signer.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        _fail(step, f"the signer certificate's public key cannot be used: {exc}")
    hash_algorithm = _HASHES[digest_name]()
    try:
        if family in ("rsa", "pss"):
            if not isinstance(key, rsa.RSAPublicKey):
                _fail(step, f"an RSA signature, but the signer certificate's key is {type(key).__name__}")
            if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
                _fail(step, f"the signer's RSA key has {key.key_size} bits ({MIN_RSA_BITS}-{MAX_RSA_BITS} accepted)")
            if family == "rsa":
                key.verify(signature, signed, padding.PKCS1v15(), hash_algorithm)
                return "rsa"
            key.verify(signature, signed, _pss_padding(algorithm["parameters"], digest_name), hash_algorithm)
            return "rsassa-pss"
        if not isinstance(key, ec.EllipticCurvePublicKey):
            _fail(step, f"an ECDSA signature, but the signer certificate's key is {type(key).__name__}")
        if key.curve.name not in _CURVES:
            _fail(step, f"the signer's EC curve {key.curve.name} is not accepted (P-256 or P-384)")
        key.verify(signature, signed, ec.ECDSA(hash_algorithm))
        return "ecdsa"
    except InvalidSignature:
        _fail(step, "the signature does not verify with the signer certificate's key (the token was altered)")


def _pss_padding(parameters: Any, digest_name: str) -> padding.PSS:
    step = "signature"
    try:
        hash_name = parameters["hash_algorithm"]["algorithm"].native
        mgf = parameters["mask_gen_algorithm"]
        mgf_name = mgf["algorithm"].native
        mgf_hash = mgf["parameters"]["algorithm"].native
        salt = parameters["salt_length"].native
        trailer = parameters["trailer_field"].native
    except _PARSE_ERRORS as exc:
        _fail(step, f"malformed RSASSA-PSS parameters: {exc}")
    # A salt cannot be longer than the largest modulus accepted, in bytes; a hostile value
    # (negative, or past 2^63) would otherwise escape as cryptography's ValueError.
    if not isinstance(salt, int) or not 0 <= salt <= MAX_RSA_BITS // 8:
        _fail(step, f"RSASSA-PSS salt length {salt} is out of range")
    if hash_name != digest_name or mgf_name != "mgf1" or mgf_hash != digest_name or trailer != "trailer_field_bc":
        _fail(step, f"RSASSA-PSS parameters ({hash_name}, {mgf_name} with {mgf_hash}) do not match the digest "
                    f"algorithm {digest_name}")
    return padding.PSS(mgf=padding.MGF1(_HASHES[digest_name]()), salt_length=int(salt))


def _check_key_usage(signer: x509.Certificate) -> None:
    step = "key usage"
    try:
        extensions = signer.extensions
        eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        _fail(step, "the signer certificate has no extendedKeyUsage; a TSA certificate needs a critical "
                    "timeStamping one (RFC 3161 §2.3)")
    except ValueError as exc:
        _fail(step, f"the signer certificate's extensions are malformed: {exc}")
    if not eku.critical:
        _fail(step, "the signer certificate's extendedKeyUsage is not critical (RFC 3161 §2.3 requires it)")
    usages = list(eku.value)
    if usages != [ExtendedKeyUsageOID.TIME_STAMPING]:
        names = ", ".join(getattr(u, "_name", None) or u.dotted_string for u in usages)
        _fail(step, f"the signer certificate's extendedKeyUsage is {names}; a TSA certificate has timeStamping only")
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            _fail(step, "the signer certificate is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            _fail(step, "the signer certificate's keyUsage allows neither digitalSignature nor nonRepudiation")
    except x509.ExtensionNotFound:
        pass


def _ca_eku(policy: Any, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    """A CA that restricts what its certificates are for must allow time-stamping."""
    if eku is None:
        return
    allowed = {ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if not allowed.intersection(eku):
        raise ValueError(f"the CA {cert.subject.rfc4514_string()} restricts its extendedKeyUsage to other purposes")


def _check_chain(signer: x509.Certificate, others: list[x509.Certificate], roots: Sequence[x509.Certificate],
                 at: datetime) -> tuple[x509.Certificate, ...]:
    step = "certificate chain"
    # CAs: the Web PKI's rules (basicConstraints, keyUsage keyCertSign, ...), except that a
    # CA's extendedKeyUsage is judged for time-stamping. The TSA certificate's extensions
    # were judged in step 6, so its policy here accepts them.
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _ca_eku)
    try:
        verifier = (
            PolicyBuilder()
            .store(Store(list(roots)))
            .time(at)
            .max_chain_depth(MAX_CHAIN_DEPTH)
            .extension_policies(ca_policy=ca_policy, ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        verified = verifier.verify(signer, others)
    except VerificationError as exc:
        _fail(step, f"the TSA certificate ({signer.subject.rfc4514_string()}) does not chain to a given root "
                    f"at the TSA's time {_text(at)}: {exc}")
    except ValueError as exc:  # a root the path builder cannot use
        _fail(step, f"cannot build a path with the given roots: {exc}")
    return tuple(verified.chain)


def _as_datetime(moment: datetime | int) -> datetime:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("not_after must be timezone-aware (or unix seconds)")
        return moment.astimezone(UTC)
    return datetime.fromtimestamp(int(moment), UTC)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:g} s"
