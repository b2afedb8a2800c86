"""How `ledger evidence verify` and `certificate` report each step (client/cli_evidence_certificate.py):
trusted time verified, not checked, absent with and without roots, a failure and the
steps after it; where a witness's organisation comes from; the TSA time against the block.
The commands themselves run in tests/integration/test_evidence_trusted_time.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from client.cli_evidence_certificate import Outcome, _organisation, outcomes, relative_to_block, utc_text, valid_line
from evidence.receipt import STEPS, VerificationError

BLOCK_TIME = 1_777_622_402  # 2026-05-01T08:00:02Z


@dataclass
class FakeTrusted:
    time: datetime
    tsa_subject: str
    serial: int


@dataclass
class FakeVerified:
    """The fields of evidence.receipt.Verified the report reads."""

    trusted_time_status: str
    trusted_time: FakeTrusted | None = None
    timestamp: int = BLOCK_TIME
    digest: bytes = b"\x11" * 32
    block_number: int = 7
    signers: tuple[bytes, ...] = (b"\x01" * 20,)
    validators: tuple[bytes, ...] = (b"\x01" * 20,)


def last(report: list[Outcome]) -> Outcome:
    assert [o.step for o in report] == list(STEPS)
    return report[-1]


def test_a_verified_token_is_reported_with_its_time_beside_the_block() -> None:
    at = datetime(2026, 5, 1, 8, 0, 1, 114000, tzinfo=UTC)
    verified: Any = FakeVerified("verified", FakeTrusted(at, "CN=Consortium TSA", 17))
    outcome = last(outcomes(STEPS, None, verified, receipt=object(), with_file=True, tsa_roots_given=True))  # type: ignore[arg-type]
    assert outcome.text() == ("✓ trusted time: TSA time 2026-05-01T08:00:01.114Z (0.886 s before the block), "
                              "CN=Consortium TSA, serial 17")
    assert "(TSA time 2026-05-01T08:00:01.114Z, CN=Consortium TSA)" in valid_line(verified)


@pytest.mark.parametrize("status, roots, text", [
    ("not checked", False, "- trusted time: not checked (no --tsa-root): the receipt carries an RFC 3161 token"),
    ("none", True, "- trusted time: the receipt carries no RFC 3161 token; --tsa-root has nothing to check"),
    ("none", False, "- trusted time: none (the receipt carries no RFC 3161 token)"),
])
def test_a_token_not_checked_or_absent_is_never_reported_as_passed(status: str, roots: bool, text: str) -> None:
    verified: Any = FakeVerified(status)
    outcome = last(outcomes(STEPS, None, verified, receipt=object(), with_file=True, tsa_roots_given=roots))  # type: ignore[arg-type]
    assert outcome.text() == text and outcome.state != "passed"
    assert "TSA time" not in valid_line(verified)


def test_a_failure_names_its_step_and_the_later_ones_are_not_reached() -> None:
    failed = VerificationError("commit seals", "1 commit seals, quorum of 4 is 3")
    report = outcomes(STEPS, failed, None, receipt=None, with_file=False, tsa_roots_given=True)
    states = {o.step: o.state for o in report}
    assert states["file"] == "not checked" and states["chain"] == "passed"
    assert states["commit seals"] == "failed" and states["trusted time"] == "not reached"
    assert report[STEPS.index("commit seals")].text() == "✗ commit seals: 1 commit seals, quorum of 4 is 3"


@pytest.mark.parametrize("record, organisation", [
    ({"subject": "CN=Node Operator,O=北京市公共资源交易中心"}, "北京市公共资源交易中心"),
    ({"subject": "CN=No Organisation Here"}, "CN=No Organisation Here"),
    ({"subject": None}, None),   # a member named in genesis: no certificate
    (None, None),                # not a member
])
def test_a_witness_organisation_is_the_member_certificates_o(record: dict[str, Any] | None,
                                                             organisation: str | None) -> None:
    assert _organisation(record) == organisation


def test_the_tsa_time_is_placed_against_the_block_time() -> None:
    block = datetime.fromtimestamp(BLOCK_TIME, UTC)
    assert relative_to_block(block, BLOCK_TIME) == "the block's second"
    assert relative_to_block(block + timedelta(seconds=3), BLOCK_TIME) == "3 s after the block"
    assert utc_text(block) == "2026-05-01T08:00:02Z"
