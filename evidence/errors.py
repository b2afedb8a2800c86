"""The root of every error the offline verifier raises on purpose.

`EvidenceError` is a ValueError (each is bad input: a receipt, a proof, a certificate, a
token that does not prove what it claims); a court's tool catches it to report any failed
check in one place, and `VerificationError`/`TimestampError` name the step that failed."""
from __future__ import annotations


class EvidenceError(ValueError):
    """Root of every error the evidence package raises on purpose."""
