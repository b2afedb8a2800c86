"""The evidence-ledger SDK — what a trading platform imports — and the `ledger` CLI.

A platform imports from here and nowhere else (`from client import Ledger, anchor_batch`);
docs/sdk.md walks through an integration end to end, every example executed by
tests/integration/test_sdk_doc.py. The public names, by job:

Connecting and e-contracts
    Ledger            a connection to one node as one chain account: members, contracts,
                      commitments; sends `$LEDGER_TOKEN` (or `token=`) as the bearer token
    TxResult          a final transaction: hash, block, gas, decoded system-contract events
    ClientError       root of every error below: catch it to handle any refusal in one place
    LedgerError       the node or a contract refused (root of the two below)
    Reverted          a contract refused; `reason` is its own message
    Unauthorized      the access token's role may not make that call (JSON-RPC -40100)
    TokenError        `$LEDGER_TOKEN_FILE` names a file that is not a token
    HttpError         no usable answer from the node: unreachable (`status` None), or
                      refused at the HTTP level (401 without a valid token, 429, ...)

Keys and signers
    load_account_key  a chain account key from a (0x-)hex key file
    load_signer       a LocalSigner from PEM chain + key, PKCS#12, or chain + keystore
    Signer            the protocol both signers meet: `chain`, `chain_der`, `fingerprint`,
                      `sign_digest`
    LocalSigner       a certificate chain and its leaf's private key, in memory
    CloudSigner       a member's key held by the hosted signing service (`ledger signer`)
    CredentialError   a key or certificate file that cannot be used
    SignerError       the signing service refused, was unreachable, or answered wrongly

Documents
    digest_file       SHA-256 (or SM3) of a file, read in chunks
    digest_bytes      SHA-256 (or SM3) of bytes in memory
    cms_sign          a detached CMS signature (DER) OpenSSL verifies (SM2: docs/envelopes.md)
    CmsError          a CMS signature cannot be made with these inputs

Sealed envelopes and the blob store
    seal_envelope     encrypt content for recipient certificates (AES-256-GCM, or SM4-GCM
                      when a recipient is SM2; key wrapped per recipient)
    open_envelope     decrypt an envelope with one recipient's key and certificate
    EnvelopeError         sealing or opening failed (root of the two below)
    NotARecipient     the envelope was not sealed for this certificate
    KeyMismatch       the private key given is not the certificate's
    EnvelopeTampered  authentication failed: altered, or another `aad`
    put_blob          store bytes on the node (`/v1/blobs`); returns their SHA-256
    get_blob          fetch a blob by SHA-256, checked against its name
    BlobError         the node refused a blob request (root of the two below)
    BlobNotFound      the node holds no blob with that hash
    BlobMismatch      the node returned other bytes than were asked for

Anchoring and receipts
    anchor            anchor one digest; returns its receipt
    anchor_batch      anchor up to a million digests under one Merkle root; a receipt each
                      (and hand the digests to the node, so each is found by its own)
    rebuild_receipt   the receipt of a digest rebuilt from the node: a batch member's too
    Anchoring         what an anchoring returns: the transaction and the receipts
    Receipt           an entry's receipt, the document a court verifies offline
    GenesisTrust      what a verifier takes from genesis.json
    verify_receipt    check every link of a receipt with no node and no network
    Verified          what a valid receipt proves (block, time, validators that sealed)
    VerificationError a receipt that does not prove its claim; `step` names the link

The event feed
    Follower          follows `/v1/feed` from a cursor, reconnecting and resuming
    FeedEvent         one event: its cursor, name and the node's event JSON
    Cursor            an event's place on the chain, "HEIGHT-LOGINDEX"
    FeedError         the feed client's errors (root of the two below)
    FeedRefused       the node refused the feed request (4xx); retrying cannot help
    FeedProtocolError the stream is not the node's feed

Seals and signed contract PDFs
    draw_seal         a PNG of a round red official seal (公章), the same bytes each time
    load_seal_image   read a seal's PNG: its id (SHA-256 of the file) and pixel digest
    SealImage         a seal's PNG with its pixels and both digests
    SealImageError    a file that cannot be a seal image
    sign_and_record   a party signs the contract's PDF with its seal (PAdES, incremental)
                      and records the revision, CMS and seal digests on chain
    verify_pdf        check a signed contract PDF against the chain, step by step
    SealPosition      where on a page a seal goes (millimetres from the top-left corner)
    SignedRevision    what one party's signing produced, with the digests the chain records
    PdfVerdict        a verification's checks, signatures and whether it is complete
    ContractPdfError  sign_and_record refused before anything was signed or sent; `check`
    ContractNotFound  verify_pdf: no contract registered the PDF's document (a ContractPdfError)
    AmbiguousContract verify_pdf: several did; name one (a ContractPdfError)
    RecordingUnknown  sign_and_record sent the transaction, its outcome unknown: wait for `tx_hash`
    SignedMeanwhile   the chain refused: another party signed the same revision first (a Reverted)
    PdfSignatureError a PDF that cannot be signed as asked; `step` names why

Everything else in this package is internal and may change without notice: the CLI
(`cli`, `cli_*`, `render`), the development PKI (`devpki`), the signing service's server
side (`cloudsign`), helpers (`atomicfile`, `auth`, `credentials`), and the modules behind
the names above (`ledger`, `anchoring`, `envelope`, `cms`, `blobs`, `feed`, `signers`,
`seals`, `contract_pdf`, `contract_pdf_facts`, `pdf_contracts`, `pdf_contract_checks`,
`pdf_structure`, `pdf_signatures`) —
import the names from `client`, not from those modules.

The names load on first use (module `__getattr__`): `import client` runs whenever the
`ledger` CLI starts, and the SDK's modules bring web3 and py-evm's dependencies (~0.8 s),
which a CLI command that needs none of them should not pay for. Type checkers see the
real imports below (`TYPE_CHECKING`).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.anchoring import Anchoring, anchor, anchor_batch, rebuild_receipt
    from client.auth import TokenError
    from client.blobs import BlobError, BlobMismatch, BlobNotFound, get_blob, put_blob
    from client.cms import CmsError, sign as cms_sign
    from client.contract_pdf import RecordingUnknown, SignedMeanwhile, sign_and_record, verify_pdf
    from client.contract_pdf_facts import AmbiguousContract, ContractNotFound, ContractPdfError
    from client.credentials import CredentialError, load_account_key
    from client.envelope import (
        EnvelopeError,
        EnvelopeTampered,
        KeyMismatch,
        NotARecipient,
        open_envelope,
        seal_envelope,
    )
    from client.errors import ClientError
    from client.feed import Cursor, FeedError, FeedEvent, FeedProtocolError, FeedRefused, Follower
    from client.http import HttpError
    from client.ledger import Ledger, LedgerError, Reverted, TxResult, Unauthorized
    from client.pdf_contract_checks import PdfVerdict
    from client.pdf_contracts import SealPosition, SignedRevision
    from client.pdf_signatures import PdfSignatureError
    from client.seals import SealImage, SealImageError, draw_seal, load_seal_image
    from client.signers import CloudSigner, LocalSigner, Signer, SignerError, load_signer
    from evidence.digest import digest_bytes, digest_file
    from evidence.receipt import GenesisTrust, Receipt, VerificationError, Verified, verify_receipt

# Public name -> (module, attribute there). The one table the lazy loader reads; the
# TYPE_CHECKING imports above say the same for type checkers
# (tests/unit/client/test_public_api.py checks that the two agree).
_EXPORTS: dict[str, tuple[str, str]] = {
    # connecting and e-contracts
    "Ledger": ("client.ledger", "Ledger"),
    "TxResult": ("client.ledger", "TxResult"),
    "LedgerError": ("client.ledger", "LedgerError"),
    "Reverted": ("client.ledger", "Reverted"),
    "Unauthorized": ("client.ledger", "Unauthorized"),
    "TokenError": ("client.auth", "TokenError"),
    "ClientError": ("client.errors", "ClientError"),
    "HttpError": ("client.http", "HttpError"),
    # keys and signers
    "load_account_key": ("client.credentials", "load_account_key"),
    "load_signer": ("client.signers", "load_signer"),
    "Signer": ("client.signers", "Signer"),
    "LocalSigner": ("client.signers", "LocalSigner"),
    "CloudSigner": ("client.signers", "CloudSigner"),
    "CredentialError": ("client.credentials", "CredentialError"),
    "SignerError": ("client.signers", "SignerError"),
    # documents
    "digest_file": ("evidence.digest", "digest_file"),
    "digest_bytes": ("evidence.digest", "digest_bytes"),
    "cms_sign": ("client.cms", "sign"),
    "CmsError": ("client.cms", "CmsError"),
    # sealed envelopes and the blob store
    "seal_envelope": ("client.envelope", "seal_envelope"),
    "open_envelope": ("client.envelope", "open_envelope"),
    "EnvelopeError": ("client.envelope", "EnvelopeError"),
    "NotARecipient": ("client.envelope", "NotARecipient"),
    "KeyMismatch": ("client.envelope", "KeyMismatch"),
    "EnvelopeTampered": ("client.envelope", "EnvelopeTampered"),
    "put_blob": ("client.blobs", "put_blob"),
    "get_blob": ("client.blobs", "get_blob"),
    "BlobError": ("client.blobs", "BlobError"),
    "BlobNotFound": ("client.blobs", "BlobNotFound"),
    "BlobMismatch": ("client.blobs", "BlobMismatch"),
    # anchoring and receipts
    "anchor": ("client.anchoring", "anchor"),
    "anchor_batch": ("client.anchoring", "anchor_batch"),
    "Anchoring": ("client.anchoring", "Anchoring"),
    "rebuild_receipt": ("client.anchoring", "rebuild_receipt"),
    "Receipt": ("evidence.receipt", "Receipt"),
    "GenesisTrust": ("evidence.receipt", "GenesisTrust"),
    "verify_receipt": ("evidence.receipt", "verify_receipt"),
    "Verified": ("evidence.receipt", "Verified"),
    "VerificationError": ("evidence.receipt", "VerificationError"),
    # the event feed
    "Follower": ("client.feed", "Follower"),
    "FeedEvent": ("client.feed", "FeedEvent"),
    "Cursor": ("client.feed", "Cursor"),
    "FeedError": ("client.feed", "FeedError"),
    "FeedRefused": ("client.feed", "FeedRefused"),
    "FeedProtocolError": ("client.feed", "FeedProtocolError"),
    # seals and signed contract PDFs
    "draw_seal": ("client.seals", "draw_seal"),
    "load_seal_image": ("client.seals", "load_seal_image"),
    "SealImage": ("client.seals", "SealImage"),
    "SealImageError": ("client.seals", "SealImageError"),
    "sign_and_record": ("client.contract_pdf", "sign_and_record"),
    "verify_pdf": ("client.contract_pdf", "verify_pdf"),
    "SealPosition": ("client.pdf_contracts", "SealPosition"),
    "SignedRevision": ("client.pdf_contracts", "SignedRevision"),
    "PdfVerdict": ("client.pdf_contract_checks", "PdfVerdict"),
    "ContractPdfError": ("client.contract_pdf_facts", "ContractPdfError"),
    "ContractNotFound": ("client.contract_pdf_facts", "ContractNotFound"),
    "AmbiguousContract": ("client.contract_pdf_facts", "AmbiguousContract"),
    "RecordingUnknown": ("client.contract_pdf", "RecordingUnknown"),
    "SignedMeanwhile": ("client.contract_pdf", "SignedMeanwhile"),
    "PdfSignatureError": ("client.pdf_signatures", "PdfSignatureError"),
}

# The same names, sorted (the table above groups them by job).
__all__ = [
    "Anchoring",
    "BlobError",
    "BlobMismatch",
    "BlobNotFound",
    "CloudSigner",
    "CmsError",
    "CredentialError",
    "Cursor",
    "EnvelopeTampered",
    "FeedError",
    "FeedEvent",
    "FeedProtocolError",
    "FeedRefused",
    "Follower",
    "GenesisTrust",
    "ClientError",
    "ContractPdfError",
    "ContractNotFound",
    "AmbiguousContract",
    "RecordingUnknown",
    "SignedMeanwhile",
    "HttpError",
    "Ledger",
    "LedgerError",
    "LocalSigner",
    "NotARecipient",
    "KeyMismatch",
    "Receipt",
    "Reverted",
    "EnvelopeError",
    "PdfSignatureError",
    "PdfVerdict",
    "SealImage",
    "SealImageError",
    "SealPosition",
    "SignedRevision",
    "Signer",
    "SignerError",
    "TokenError",
    "TxResult",
    "Unauthorized",
    "VerificationError",
    "Verified",
    "anchor",
    "anchor_batch",
    "cms_sign",
    "digest_bytes",
    "digest_file",
    "draw_seal",
    "get_blob",
    "load_account_key",
    "load_seal_image",
    "load_signer",
    "open_envelope",
    "put_blob",
    "rebuild_receipt",
    "seal_envelope",
    "sign_and_record",
    "verify_pdf",
    "verify_receipt",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use, then keep it here. Any other name
    is an AttributeError, which is also what lets `from client import devpki` find the
    submodule."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'client' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
