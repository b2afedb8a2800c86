"""SM2 certificates where code used to call `cert.public_key()` (which raises for SM2):
the console's trusted-root description and the PDF signer, which refuses SM2 by name."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from client import devpki
from client.credentials import CertificateIdentity
from client.pdf_signatures import PdfSignatureError, ProtocolSigner
from node.rpc.rest.chain import root_record

START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sm2_identity() -> CertificateIdentity:
    root_key = devpki.generate_key("sm2")
    root = devpki.make_root("SM2 Root", root_key, not_before=START, not_after=START + timedelta(days=3650))
    key = devpki.generate_key("sm2")
    leaf = devpki.issue_certificate(root, root_key, key.public_key(), common_name="Zhang San",
                                    not_before=START, not_after=START + timedelta(days=365))
    return CertificateIdentity((leaf, root), key)


def test_a_trusted_sm2_root_is_described_with_its_key_type(sm2_identity: CertificateIdentity) -> None:
    record = root_record(sm2_identity.chain[-1].public_bytes(serialization.Encoding.DER), {"block": 0})
    assert record["keyType"] == "SM2"
    assert record["subject"] == "CN=SM2 Root"


def test_an_sm2_signer_cannot_sign_a_pdf_and_is_told_what_to_do_instead(sm2_identity: CertificateIdentity) -> None:
    with pytest.raises(PdfSignatureError) as refused:
        ProtocolSigner(sm2_identity)
    assert refused.value.step == "signer"
    assert "SM2 keys cannot sign PDFs" in str(refused.value)
    assert "ledger contract sign" in str(refused.value)
