"""The root of every error the SDK and the `ledger` CLI raise on purpose.

`ClientError` is what a platform catches to handle "the ledger said no" in one place; each
module's errors (HTTP, ledger calls, envelopes, blobs, signers, the feed, time stamps, PDFs)
are its subclasses, and those that were ValueErrors stay ValueErrors too. Errors the node
raises are node.errors.NodeError's; those the offline verifier raises, evidence's
EvidenceError's."""
from __future__ import annotations


class ClientError(Exception):
    """Root of every error the SDK and the CLI raise on purpose."""
