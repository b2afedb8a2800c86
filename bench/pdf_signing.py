"""Signing and verifying a signed contract PDF: milliseconds per signature, ours next to
pyHanko's bare PAdES signing and validation and poppler's ``pdfsig``.

The module stays whole past 600 lines: one benchmark whose rows must share one workload
(the same PDF, keys, seals, TSA and signed files), read top to bottom as the list below.

The workload (built once, not timed):

- a ``--pages`` (20) page contract made with fpdf2 in the bundled CJK font
  (client/fonts/wqy-microhei.ttc, face 0, embedded as a subset), Chinese and English
  clauses on every page, a fixed creation date;
- two parties under two CAs (client/devpki.py): party 1 an RSA-2048 leaf under an RSA-2048
  root, party 2 a P-256 leaf under a P-256 root, each a ``client.signers.LocalSigner``;
  each party's seal drawn by ``client.seals.draw_seal`` (472 px) and read back with
  ``load_seal_image``;
- a real RFC 3161 TSA (``ledger tsa serve``, bench/common/tsa.py) on 127.0.0.1 for B-T and
  B-LT, and one CRL per CA (``devpki.make_crl``, revoking someone else) for B-LT.

Timed, every row once per run, interleaved (so a busy moment of the shared machine hits
every row alike), after a warm-up run that is not counted; the median of ``--runs`` (7):

1. ours, ``client.pdf_contracts.sign_contract_pdf`` at B-B, B-T and B-LT: party 1 on the
   unsigned PDF (certification signature, seal placed automatically), then party 2 on
   party 1's output (approval signature, its seal beside the first);
2. ours, ``verify_contract_pdf`` of that two-signature file against the chain's facts
   (built by hand from the signed outputs, as the node would hold them; the block times
   are the clock after signing, the seals approved a day before), TSA root given; the
   verdict must be ok or the run fails. Reported per signature (total / 2) and in total;
3. pyHanko bare: an approval signature with no widget (no seal image) on the same
   unsigned PDF, then party 2's on that output (B-B), signed by pyHanko's own
   ``SimpleSigner`` over the same keys and chains, and again by our ``ProtocolSigner``
   (the adapter sign_contract_pdf signs through: the same signing minus the seal and our
   reads of the PDF); and pyHanko's ``validate_pdf_signature`` of each signature of our
   two-signature file at each level (trust roots given, nothing fetched, its default
   difference policy), checked intact, valid and trusted;
4. poppler's ``pdfsig`` on the same files (a process per file, an NSS database trusting
   both roots; the certificates name no OCSP responder, so nothing is fetched), each
   signature checked "Signature is Valid." and "Certificate is Trusted."; and on the
   unsigned PDF (start-up and parsing with no signature to check). Skipped, with the
   reason, without ``pdfsig`` or ``certutil``;
5. the parts, to see what dominates: the signature itself (``sign_digest``, a batch of
   PRIMITIVE_BATCH); loading the key from DER, which ``SimpleSigner`` does before every
   raw signature; one time-stamp from the TSA (``request_timestamp``); pyHanko opening
   the two-signature file and reading its signatures (each signing does that about three
   times: the input, pyHanko's writer, the output read back); and the seal's pixels
   FlateDecode-compressed as its image XObject and soft mask are.

Wall time (``time.perf_counter``) is the figure; CPU time of this process (and of
``pdfsig``, a child) is printed beside it, so the TSA's share of B-T shows as wall minus
CPU. The machine is shared: the load average at the start and the machine's busy cores
during the runs (all processes, this one included) are printed with the figures.

    .venv/bin/python -m bench.pdf_signing                 # 20 pages, 7 runs
    .venv/bin/python -m bench.pdf_signing --quick         # 2 pages, 1 run, no idle wait
    .venv/bin/python -m bench.pdf_signing --keep /tmp/pdfs  # and keep the signed files
    .venv/bin/python -m bench.pdf_signing --runs 3 --profile 20  # and where the time goes (cProfile)
"""
from __future__ import annotations

import cProfile
import hashlib
import io
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import keys as asn1_keys, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from fpdf import FPDF

from bench.common import cli
from bench.common.machine import machine_cpu, machine_info, machine_rows, wait_for_idle
from bench.common.nodes import find_ledger
from bench.common.results import figure, number, print_grid, print_table, write_figures
from bench.common.tsa import TsaProcess
from client import devpki, pkifiles
from client.pdf_contract_checks import ChainAttestation, ChainContract, ChainSeal, verify_contract_pdf
from client.pdf_contracts import SignedRevision, sign_contract_pdf
from client.pdf_signatures import SIGNING_KEY_USAGES, ProtocolSigner
from client.seals import SealImage, draw_seal, load_seal_image
from client.signers import LocalSigner
from client.timestamping import request_timestamp

# As in client/pdf_signatures.py: pyHanko imports cryptography's DSA module, which warns.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.validation import KeyUsageConstraints, validate_pdf_signature
    from pyhanko.sign.validation.status import PdfSignatureStatus
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleCertificateStore

DEFAULT_PAGES = 20          # the issue's contract: "a 20-page PDF"
DEFAULT_RUNS = 7
DEFAULT_IDLE_WAIT_SECONDS = 10.0  # before each run; a run is a few seconds of work
LEVELS = ("B-B", "B-T", "B-LT")
# The contract's creation date (fpdf2 writes it into /Info and the XMP): fixed, so the
# unsigned PDF is the same bytes on every run of the benchmark.
CREATED = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
# The parties' certificates: valid from a fixed date for ten years (the clock of any run,
# and the block times the facts carry, sit inside).
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=3650)
# The CRLs of B-LT: issued an hour before the run, next update a week on, each revoking
# a serial no party holds (a CRL with an entry, as a real CA's is).
CRL_AGE = timedelta(hours=1)
CRL_VALIDITY = timedelta(days=7)
REVOKED_SERIAL = 4242
# The seals were approved on chain a day before the contract was signed.
SEAL_APPROVED_BEFORE_SECONDS = 86_400
# The signature primitive alone takes well under a millisecond for P-256; a batch of this
# many per run makes the clock's resolution and the call's overhead negligible.
PRIMITIVE_BATCH = 50
# A pdfsig or certutil run past this is a hung tool, not a slow one.
TOOL_TIMEOUT_SECONDS = 60
# The TSA and ledger CLI start on a busy 2-core machine: as the other benchmarks allow.
TSA_READY_TIMEOUT_SECONDS = 60.0
CONTRACT_CODE = "TC-2026-0042"
CJK_FONT = Path(__file__).resolve().parent.parent / "client" / "fonts" / "wqy-microhei.ttc"
CJK_FACE = 0  # WenQuanYi Micro Hei (face 1 is its monospaced Latin face)

T = TypeVar("T")

# The contract's clauses: (Chinese, English), cycled through the pages.
CLAUSES = (
    ("合同标的", "采购人向供应商采购本合同附件一所列货物及相关服务，包括设备的供货、运输、安装、调试、培训和质量保证期内的维修服务。"
                 "供应商保证所供货物为全新、未使用过的合格产品，符合国家有关标准和招标文件的技术要求。",
     "Subject matter. The Purchaser buys from the Supplier the goods listed in Annex 1 and the related services: "
     "supply, transport, installation, commissioning, training and repairs during the warranty period."),
    ("合同价款", "本合同总价为人民币叁佰肆拾伍万陆仟元整（¥3,456,000.00），该价款为固定价格，已包含货物、包装、运输、保险、"
                 "安装、调试、税费及供应商为履行本合同所需的全部费用。",
     "Contract price. The total price is CNY 3,456,000.00, fixed, and includes goods, packaging, transport, "
     "insurance, installation, commissioning, taxes and every cost of the Supplier's performance."),
    ("交付与验收", "供应商应于合同生效之日起六十日内将货物运抵采购人指定地点。采购人应在货物安装调试完毕后十个工作日内组织验收，"
                   "验收合格的，双方签署验收报告；验收不合格的，供应商应在七日内更换或修复。",
     "Delivery and acceptance. The Supplier delivers within sixty days of the effective date. The Purchaser "
     "inspects within ten working days of commissioning; goods that fail are replaced or repaired within seven days."),
    ("付款方式", "合同生效后十五日内，采购人支付合同总价的百分之三十作为预付款；验收合格后三十日内支付百分之六十五；"
                 "质量保证期满且无质量问题的，支付剩余百分之五。付款以银行转账方式进行。",
     "Payment. Thirty per cent within fifteen days of the effective date; sixty-five per cent within thirty days "
     "of acceptance; the remaining five per cent when the warranty period ends without defects. By bank transfer."),
    ("质量保证", "质量保证期为验收合格之日起三十六个月。在质量保证期内，供应商应在接到通知后二十四小时内响应，"
                 "四十八小时内到达现场排除故障，由此产生的费用由供应商承担。",
     "Warranty. Thirty-six months from acceptance. The Supplier answers a notice within twenty-four hours and is "
     "on site within forty-eight hours to clear the fault, at its own cost."),
    ("违约责任", "供应商逾期交货的，每逾期一日按合同总价的千分之五支付违约金；逾期超过三十日的，采购人有权解除合同。"
                 "采购人逾期付款的，每逾期一日按应付未付款项的万分之五支付违约金。",
     "Liability. Late delivery costs 0.5 per cent of the price per day; after thirty days the Purchaser may "
     "terminate. Late payment costs 0.05 per cent of the amount due per day."),
    ("不可抗力", "因地震、台风、洪水、战争等不能预见、不能避免且不能克服的客观情况致使合同不能履行的，遭受不可抗力的一方"
                 "应及时通知对方，并在十五日内提供有关机构出具的证明。",
     "Force majeure. A party prevented by events it could neither foresee, avoid nor overcome notifies the other "
     "at once and provides a certificate from the competent authority within fifteen days."),
    ("争议解决", "因本合同引起的或与本合同有关的任何争议，双方应友好协商解决；协商不成的，任何一方均可向采购人所在地"
                 "有管辖权的人民法院提起诉讼。",
     "Disputes. The parties first negotiate in good faith; failing agreement, either party may sue in the "
     "competent people's court where the Purchaser is located."),
    ("电子签名", "双方同意以可靠的电子签名和电子印章签署本合同，其与手写签名或者盖章具有同等的法律效力。本合同的"
                 "文件摘要及各方签名记录于公共资源交易区块链存证平台。",
     "Electronic signatures. The parties sign with reliable electronic signatures and seals, which have the same "
     "legal effect as handwritten signatures or stamps. The document's digest and each signature are recorded on "
     "the public-resource trading ledger."),
)


# -- the workload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """One signer: its identity (key and chain, root last), its seal, its chain address."""

    label: str                  # the figures' name for it: "party1_rsa2048"
    identity: LocalSigner
    seal: SealImage
    address: str
    seal_name: str
    crl: x509.CertificateRevocationList  # its CA's, for B-LT

    @property
    def root(self) -> x509.Certificate:
        return self.identity.chain[-1]

    @property
    def fingerprint(self) -> bytes:
        return _fingerprint(self.identity.chain[0])

    @property
    def root_fingerprint(self) -> bytes:
        return _fingerprint(self.root)


def _fingerprint(cert: x509.Certificate) -> bytes:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def make_party(label: str, kind: devpki.KeyType, ca_name: str, organisation: str, seal_name: str, seal_code: str,
               address: str, now: datetime) -> Party:
    """A root CA of `kind`, a leaf of `kind` under it, the CA's CRL, and a drawn seal."""
    root_key = devpki.generate_key(kind)
    root = devpki.make_root(ca_name, root_key, not_before=NOT_BEFORE, not_after=NOT_AFTER + timedelta(days=365))
    key = devpki.generate_key(kind)
    leaf = devpki.issue_certificate(root, root_key, key.public_key(), common_name=f"{organisation} contract signer",
                                    organization=organisation, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    crl = devpki.make_crl(root, root_key, [REVOKED_SERIAL], this_update=now - CRL_AGE,
                          next_update=now - CRL_AGE + CRL_VALIDITY)
    seal = load_seal_image(draw_seal(seal_name, code=seal_code))
    return Party(label, LocalSigner((leaf, root), key), seal, address, seal_name, crl)


def make_parties(now: datetime) -> tuple[Party, Party]:
    return (
        make_party("party1_rsa2048", "rsa2048", "Trading Center CA (RSA-2048)", "Beijing Example Purchasing Center",
                   "北京示例采购中心合同专用章", "1101080012345", "0x1111111111111111111111111111111111111111", now),
        make_party("party2_p256", "p256", "Province CA (P-256)", "Shanghai Example Supply Chain Co",
                   "上海示例供应链有限公司合同专用章", "3101150067890", "0x2222222222222222222222222222222222222222", now),
    )


def contract_pdf(pages: int) -> bytes:
    """The contract: `pages` A4 pages, each a heading and three clauses in Chinese and
    English, in the bundled CJK font (fpdf2 embeds the subset the text uses)."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_creation_date(CREATED)
    pdf.set_title(f"政府采购合同 Government procurement contract {CONTRACT_CODE}")
    pdf.set_creator("evidence-ledger bench/pdf_signing.py")
    pdf.set_lang("zh-CN")
    pdf.add_font("cjk", "", str(CJK_FONT), collection_font_number=CJK_FACE)
    pdf.set_auto_page_break(True, margin=20)
    for page in range(pages):
        pdf.add_page()
        pdf.set_font("cjk", size=14)
        pdf.cell(0, 9, f"政府采购合同 Government Procurement Contract {CONTRACT_CODE}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=9)
        pdf.cell(0, 6, f"第 {page + 1} 页，共 {pages} 页 / page {page + 1} of {pages}", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        for k in range(3):
            article = page * 3 + k + 1
            title, chinese, english = CLAUSES[(article - 1) % len(CLAUSES)]
            pdf.set_font("cjk", size=11)
            pdf.cell(0, 7, f"第{article}条 {title}", new_x="LMARGIN", new_y="NEXT")
            pdf.multi_cell(0, 6, chinese * 2, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
            pdf.multi_cell(0, 5.5, f"Article {article}. {english} {english}", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    if pdf.pages_count != pages:  # a clause ran over: the benchmark would measure another document
        raise RuntimeError(f"the contract came out at {pdf.pages_count} pages, not {pages}")
    return bytes(pdf.output())


def chain_facts(document: bytes, signed: Sequence[tuple[Party, SignedRevision]], signed_at: int) -> ChainContract:
    """What the chain would hold about the contract once both parties signed: the
    registered digest, one attestation per signature (block times `signed_at`, +1 s...),
    the seals approved a day earlier, the parties' roots."""
    parties = tuple(p for p, _ in signed)
    return ChainContract(
        contract_id=hashlib.sha256(CONTRACT_CODE.encode()).digest(), project_code=CONTRACT_CODE, version=1,
        status="Effective", doc_digest=hashlib.sha256(document).digest(), digest_algorithm="sha256",
        parties=tuple(p.address for p in parties),
        attestations=tuple(
            ChainAttestation(party_index=k, signer=p.address, cert_fingerprint=p.fingerprint,
                             root_fingerprint=p.root_fingerprint, signed_at=signed_at + k, sequence=k + 1,
                             revision_digest=s.revision_digest, cms_digest=s.cms_digest, seal=s.seal)
            for k, (p, s) in enumerate(signed)),
        seals={p.seal.digest: ChainSeal(seal=p.seal.digest, owner=p.address, name=p.seal_name,
                                        pixel_digest=p.seal.pixel_digest, cert_fingerprint=p.fingerprint,
                                        status="Approved", approved_at=signed_at - SEAL_APPROVED_BEFORE_SECONDS,
                                        revoked_at=0)
               for p in parties},
        roots={p.root_fingerprint: p.root for p in parties},
    )


# -- the peers: pyHanko bare, pdfsig -------------------------------------------------------------


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def pyhanko_signer(identity: LocalSigner) -> signers.SimpleSigner:
    """pyHanko's own signer over the same key and chain (root embedded, as ours does)."""
    key = asn1_keys.PrivateKeyInfo.load(pkifiles.private_key_der(identity.key))
    chain = [_asn1(c) for c in identity.chain]
    return signers.SimpleSigner(signing_cert=chain[0], signing_key=key,
                                cert_registry=SimpleCertificateStore.from_certs(chain))


def pyhanko_sign(pdf: bytes, signer: signers.Signer, field: str) -> bytes:
    """pyHanko's bare PAdES B-B approval signature in a new field with no widget (no seal)."""
    metadata = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256",
                                            subfilter=fields.SigSeedSubFilter.PADES, certify=False)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    return bytes(signers.sign_pdf(writer, metadata, signer=signer).getvalue())


def pyhanko_validate(pdf: bytes, roots: Sequence[x509.Certificate], tsa_root: x509.Certificate | None) -> int:
    """pyHanko's validate_pdf_signature of every signature, each intact, valid and
    trusted (else RuntimeError); returns how many."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    context = ValidationContext(trust_roots=[_asn1(r) for r in roots], allow_fetching=False)
    ts_context = ValidationContext(trust_roots=[_asn1(tsa_root)], allow_fetching=False) if tsa_root else None
    usage = KeyUsageConstraints(key_usage=set(SIGNING_KEY_USAGES), match_all_key_usages=False)
    count = 0
    for signature in reader.embedded_regular_signatures:
        status: PdfSignatureStatus = validate_pdf_signature(signature, context, ts_validation_context=ts_context,
                                                            key_usage_settings=usage)
        if not (status.intact and status.valid and status.trusted):
            raise RuntimeError(f"pyHanko: signature {signature.field_name} is not intact, valid and trusted: "
                               f"{status.summary()}")
        count += 1
    return count


def _tool(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    # stdin closed: certutil asks for a password on a terminal when it has a question
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS,
                          check=False, stdin=subprocess.DEVNULL)


def pdfsig_missing() -> str | None:
    """Why the pdfsig rows cannot run here, or None."""
    for tool, package in (("pdfsig", "poppler-utils"), ("certutil", "libnss3-tools")):
        if shutil.which(tool) is None:
            return f"{tool} ({package}) is not installed"
    return None


def nss_database(directory: Path, roots: Sequence[x509.Certificate]) -> str:
    """A new NSS database in `directory` (emptied first) trusting `roots` for signing
    ("C,C,C"); the value for pdfsig's -nssdir."""
    shutil.rmtree(directory, ignore_errors=True)  # a kept one from an earlier run holds other roots
    directory.mkdir(parents=True)
    done = _tool("certutil", "-d", f"sql:{directory}", "-N", "--empty-password")
    if done.returncode != 0:
        raise RuntimeError(f"certutil -N failed: {done.stderr.strip()}")
    for index, root in enumerate(roots):
        pem = directory / f"root{index}.pem"
        pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
        done = _tool("certutil", "-d", f"sql:{directory}", "-A", "-n", f"root {index}", "-t", "C,C,C", "-i", pem)
        if done.returncode != 0:
            raise RuntimeError(f"certutil -A failed: {done.stderr.strip()}")
    return f"sql:{directory}"


def pdfsig_verdicts(stdout: str) -> list[tuple[str, str]]:
    """(signature validation, certificate validation) of each signature pdfsig lists."""
    verdicts = []
    for block in stdout.split("Signature #")[1:]:
        lines = {line.strip(" -").split(":", 1)[0]: line.split(":", 1)[1].strip()
                 for line in block.splitlines() if line.strip().startswith("- ") and ":" in line}
        verdicts.append((lines.get("Signature Validation", ""), lines.get("Certificate Validation", "")))
    return verdicts


def pdfsig_check(path: Path, nssdir: str, expected: int) -> None:
    """pdfsig on `path`: `expected` signatures, each valid and trusted (else RuntimeError)."""
    # Not -no-ocsp: poppler 22.12 then calls every certificate "Unknown issue with Certificate
    # or corrupted data". Nothing is fetched anyway: the parties' certificates name no OCSP
    # responder or CA issuer URL (client/devpki.py adds no AIA extension).
    done = _tool("pdfsig", "-nssdir", nssdir, path)
    verdicts = pdfsig_verdicts(done.stdout)
    if len(verdicts) != expected or any(v != ("Signature is Valid.", "Certificate is Trusted.") for v in verdicts):
        raise RuntimeError(f"pdfsig on {path.name} (exit {done.returncode}): {verdicts}\n{done.stderr.strip()}")


# -- timing -------------------------------------------------------------------------------------


@dataclass
class Sample:
    wall_ms: float
    cpu_ms: float               # this process, plus children that ended during the call (pdfsig)


def timed(action: Callable[[], T], samples: dict[str, list[Sample]], key: str, per: int = 1) -> T:
    """Run `action` once; append its wall and CPU milliseconds (divided by `per`) to samples[key]."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = action()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    samples.setdefault(key, []).append(Sample(wall * 1000 / per, cpu * 1000 / per))
    return result


@dataclass
class Context:
    parties: tuple[Party, Party]
    document: bytes
    tsa: TsaProcess
    files: Path                 # where the signed files go (pdfsig reads files)
    nssdir: str | None          # None: pdfsig rows skipped
    bare: tuple[signers.SimpleSigner, signers.SimpleSigner]
    adapted: tuple[ProtocolSigner, ProtocolSigner]
    sizes: dict[str, int]


def level_options(level: str, party: Party, tsa_url: str) -> dict[str, Any]:
    """sign_contract_pdf's options for `level`: a TSA for B-T, and the party's CA's CRL for B-LT."""
    if level == "B-B":
        return {}
    return {"timestamp_url": tsa_url, "crls": [party.crl] if level == "B-LT" else []}


def sign_batch(identity: LocalSigner, digest: bytes) -> None:
    for _ in range(PRIMITIVE_BATCH):
        identity.sign_digest(digest)


def load_key_batch(identity: LocalSigner) -> None:
    """What pyHanko's SimpleSigner does before each raw signature: load its key from DER
    (for RSA, OpenSSL 3 checks the key's primes on every load)."""
    der = pkifiles.private_key_der(identity.key)
    for _ in range(PRIMITIVE_BATCH):
        serialization.load_der_private_key(der, password=None)


def parse_signed(pdf: bytes) -> int:
    return len(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)


def flate_seal(seal: SealImage) -> int:
    return sum(len(zlib.compress(plane)) for plane in (seal.rgb, seal.alpha))


def one_run(ctx: Context, samples: dict[str, list[Sample]]) -> None:
    """Every row once (module docstring, 1-5)."""
    a, b = ctx.parties
    roots = [a.root, b.root]
    # 1-2, 4. ours at each level, the peers verifying the same file
    for level in LEVELS:
        first = timed(partial(sign_contract_pdf, ctx.document, a.identity, a.seal,
                              **level_options(level, a, ctx.tsa.url)), samples, f"sign.{level}.{a.label}")
        second = timed(partial(sign_contract_pdf, first.pdf, b.identity, b.seal,
                               **level_options(level, b, ctx.tsa.url)), samples, f"sign.{level}.{b.label}")
        facts = chain_facts(ctx.document, [(a, first), (b, second)], int(time.time()) + 1)
        tsa_root = ctx.tsa.root if level != "B-B" else None
        verdict = timed(partial(verify_contract_pdf, second.pdf, facts, tsa_roots=[tsa_root] if tsa_root else []),
                        samples, f"verify.{level}")
        if not verdict.ok or len(verdict.signatures) != 2:
            raise RuntimeError(f"verify_contract_pdf at {level}: {verdict.failed}")
        timed(partial(pyhanko_validate, second.pdf, roots, tsa_root), samples, f"pyhanko.validate.{level}")
        path = ctx.files / f"contract-{level}.pdf"
        path.write_bytes(second.pdf)
        if ctx.nssdir is not None:
            timed(partial(pdfsig_check, path, ctx.nssdir, 2), samples, f"pdfsig.{level}")
        ctx.sizes[f"after party 1, {level}"] = len(first.pdf)
        ctx.sizes[f"after party 2, {level}"] = len(second.pdf)
    # 3. pyHanko's bare signing, B-B
    bare_first = timed(partial(pyhanko_sign, ctx.document, ctx.bare[0], "Signature1"), samples,
                       f"pyhanko.sign.{a.label}")
    bare_second = timed(partial(pyhanko_sign, bare_first, ctx.bare[1], "Signature2"), samples,
                        f"pyhanko.sign.{b.label}")
    ctx.sizes["after party 2, pyHanko bare B-B"] = len(bare_second)
    adapted_first = timed(partial(pyhanko_sign, ctx.document, ctx.adapted[0], "Signature1"), samples,
                          f"pyhanko.sign_protocol.{a.label}")
    timed(partial(pyhanko_sign, adapted_first, ctx.adapted[1], "Signature2"), samples,
          f"pyhanko.sign_protocol.{b.label}")
    if ctx.nssdir is not None:
        timed(partial(pdfsig_check, ctx.files / "contract-unsigned.pdf", ctx.nssdir, 0), samples,
              "pdfsig.no_signature")
    # 5. the parts
    digest = hashlib.sha256(ctx.document).digest()
    for party in ctx.parties:
        timed(partial(sign_batch, party.identity, digest), samples, f"part.sign_digest.{party.label}",
              per=PRIMITIVE_BATCH)
        timed(partial(load_key_batch, party.identity), samples, f"part.load_key.{party.label}", per=PRIMITIVE_BATCH)
    timed(partial(request_timestamp, ctx.tsa.url, digest), samples, "part.tsa_token")
    timed(partial(parse_signed, (ctx.files / "contract-B-B.pdf").read_bytes()), samples,
          "part.parse_two_signature_pdf")
    timed(partial(flate_seal, a.seal), samples, "part.seal_image_flate")


# -- where the time goes ------------------------------------------------------------------------

# The code a profile's table lists: ours and pyHanko's (asn1crypto's recursive encoders, called from
# pyHanko's CMS code, would fill the table with nested entries; asyncio is plumbing).
PROFILED_PACKAGES = ("/client/", "/pyhanko/", "/pyhanko_certvalidator/")
PROFILE_ROWS = 25


def profile(action: Callable[[], object], repeat: int) -> list[list[str]]:
    """cProfile over `repeat` calls of `action`: the functions of PROFILED_PACKAGES with the
    most cumulative time, as (cumulative ms, own ms, calls, function) per call. cProfile
    slows Python code more than the C it calls (hashing, zlib, OpenSSL), so the shares of
    pure-Python parsing read high; the untimed medians above are the figures."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        action()
    profiler.disable()
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found = []
    for (path, line, function), (_, calls, own, cumulative, _) in stats.items():
        if any(package in path for package in PROFILED_PACKAGES):
            short = path.rsplit("site-packages/", 1)[-1].rsplit(str(Path(__file__).resolve().parent.parent) + "/", 1)[-1]
            found.append((cumulative, own, calls, f"{short}:{line} {function}"))
    found.sort(reverse=True)
    return [[number(c / repeat * 1000), number(o / repeat * 1000), f"{n / repeat:g}", label]
            for c, o, n, label in found[:PROFILE_ROWS]]


def print_profiles(ctx: Context, repeat: int) -> None:
    """Where B-B signing (each party) and the B-B verification spend their time."""
    a, b = ctx.parties
    first = sign_contract_pdf(ctx.document, a.identity, a.seal)
    second = sign_contract_pdf(first.pdf, b.identity, b.seal)
    facts = chain_facts(ctx.document, [(a, first), (b, second)], int(time.time()) + 1)
    for title, action in (
            ("party 1 (RSA-2048) signs the unsigned PDF, B-B", partial(sign_contract_pdf, ctx.document, a.identity,
                                                                        a.seal)),
            ("party 2 (P-256) signs party 1's output, B-B", partial(sign_contract_pdf, first.pdf, b.identity, b.seal)),
            ("verify_contract_pdf of the B-B two-signature file", partial(verify_contract_pdf, second.pdf, facts))):
        print_grid(f"Profile (cProfile, {repeat} calls): {title}", ["cumulative ms", "own ms", "calls", "function"],
                   profile(action, repeat))


# -- the report ---------------------------------------------------------------------------------

def rows(parties: Sequence[Party]) -> list[tuple[str, str, str]]:
    """(key, figure name, what) of every row, in the order of the tables."""
    a, b = parties
    out: list[tuple[str, str, str]] = []
    for level in LEVELS:
        out += [
            (f"sign.{level}.{a.label}", f"sign.{level}.{a.label}",
             f"ours, {level}: party 1 (RSA-2048) signs the unsigned PDF, seal drawn"),
            (f"sign.{level}.{b.label}", f"sign.{level}.{b.label}",
             f"ours, {level}: party 2 (P-256) signs party 1's output, seal drawn"),
        ]
    out += [
        (f"pyhanko.sign.{a.label}", f"pyhanko.sign.{a.label}", "pyHanko bare B-B, party 1 (RSA-2048), no seal"),
        (f"pyhanko.sign.{b.label}", f"pyhanko.sign.{b.label}", "pyHanko bare B-B, party 2 (P-256), no seal"),
        (f"pyhanko.sign_protocol.{a.label}", f"pyhanko.sign_protocol.{a.label}",
         "pyHanko bare B-B with our ProtocolSigner, party 1 (RSA-2048), no seal"),
        (f"pyhanko.sign_protocol.{b.label}", f"pyhanko.sign_protocol.{b.label}",
         "pyHanko bare B-B with our ProtocolSigner, party 2 (P-256), no seal"),
    ]
    for level in LEVELS:
        out += [
            (f"verify.{level}", f"verify.{level}", f"ours, verify_contract_pdf of the {level} two-signature file"),
            (f"pyhanko.validate.{level}", f"pyhanko.validate.{level}",
             f"pyHanko validate_pdf_signature, both signatures of the {level} file"),
            (f"pdfsig.{level}", f"pdfsig.{level}", f"pdfsig (a process), both signatures of the {level} file"),
        ]
    out += [
        ("pdfsig.no_signature", "pdfsig.no_signature", "pdfsig on the unsigned PDF: start-up, NSS, parsing"),
        (f"part.sign_digest.{a.label}", f"part.sign_digest.{a.label}", "the RSA-2048 signature alone (sign_digest)"),
        (f"part.sign_digest.{b.label}", f"part.sign_digest.{b.label}", "the P-256 signature alone (sign_digest)"),
        (f"part.load_key.{a.label}", f"part.load_key.{a.label}",
         "loading the RSA-2048 key from DER, as SimpleSigner does per raw signature"),
        (f"part.load_key.{b.label}", f"part.load_key.{b.label}",
         "loading the P-256 key from DER, as SimpleSigner does per raw signature"),
        ("part.tsa_token", "part.tsa_token", "one RFC 3161 token from `ledger tsa serve` (request_timestamp)"),
        ("part.parse_two_signature_pdf", "part.parse_two_signature_pdf",
         "pyHanko opens the B-B two-signature file and reads its signatures"),
        ("part.seal_image_flate", "part.seal_image_flate", "the seal's RGB and alpha planes FlateDecode-compressed"),
    ]
    return out


def build_figures(samples: dict[str, list[Sample]], parties: Sequence[Party], note: str) -> list[dict[str, Any]]:
    """Every row as a figure in ms (verification rows per signature, and ours in total
    too), and ours / pyHanko per run for signing (B-B) and verifying (B-B)."""
    figures = []
    for key, name, what in rows(parties):
        if key not in samples:
            continue
        walls = [s.wall_ms for s in samples[key]]
        verifying = key.startswith(("verify.", "pyhanko.validate.", "pdfsig.B"))
        if verifying:
            figures.append(figure(f"pdf_signing.{name}.per_signature", "ms", [w / 2 for w in walls], better="lower",
                                  group="verify", note=f"{what}, per signature (total / 2); {note}"))
            if key.startswith("verify."):  # the peers' totals are twice their per-signature figure
                figures.append(figure(f"pdf_signing.{name}.total", "ms", walls, better="lower", group="verify",
                                      note=f"{what}; {note}"))
        else:
            group = "sign" if key.startswith(("sign.", "pyhanko.sign")) else \
                "verify" if key.startswith("pdfsig.") else "parts"
            figures.append(figure(f"pdf_signing.{name}", "ms", walls, better="lower", group=group,
                                  note=f"{what}; {note}"))
    for party in parties:
        ours = samples[f"sign.B-B.{party.label}"]
        for peer, key, what in (
                ("pyhanko", f"pyhanko.sign.{party.label}", "pyHanko bare (SimpleSigner)"),
                ("pyhanko_protocol", f"pyhanko.sign_protocol.{party.label}", "pyHanko bare with our ProtocolSigner")):
            theirs = samples[key]
            figures.append(figure(f"pdf_signing.ratio.sign_over_{peer}.{party.label}", "×",
                                  [o.wall_ms / t.wall_ms for o, t in zip(ours, theirs)], better="lower",
                                  group="ratio", note=f"ours (seal drawn, digests read back) / {what}, B-B, per run"))
    ours, theirs = samples["verify.B-B"], samples["pyhanko.validate.B-B"]
    figures.append(figure("pdf_signing.ratio.verify_over_pyhanko.B-B", "×",
                          [o.wall_ms / t.wall_ms for o, t in zip(ours, theirs)], better="lower", group="ratio",
                          note="ours (9 steps) / pyHanko's validate_pdf_signature of both signatures, per run"))
    return figures


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_report(samples: dict[str, list[Sample]], parties: Sequence[Party], skipped: str | None) -> None:
    grid = []
    for key, _, what in rows(parties):
        if key not in samples:
            continue
        walls = [s.wall_ms for s in samples[key]]
        mid = _median(walls)
        spread = (max(walls) - min(walls)) / mid * 100 if mid else 0.0
        grid.append([what, number(mid), f"{spread:.0f} %", number(_median([s.cpu_ms for s in samples[key]])),
                     ", ".join(number(w) for w in walls)])
    print_grid("Every row: wall ms (median of the runs), spread (max - min) / median, CPU ms (median)",
               ["row", "wall ms", "spread", "CPU ms", "runs"], grid)
    if skipped:
        print(f"\npdfsig rows skipped: {skipped}")

    def cell(key: str, divide: int = 1) -> str:
        return number(_median([s.wall_ms for s in samples[key]]) / divide) if key in samples else "skipped"

    a, b = parties
    side = [
        [f"sign, {what}, {level}", cell(f"sign.{level}.{party.label}"),
         cell(f"pyhanko.sign.{party.label}") if level == "B-B" else "",
         cell(f"pyhanko.sign_protocol.{party.label}") if level == "B-B" else "", ""]
        for party, what in ((a, "party 1 (RSA-2048)"), (b, "party 2 (P-256)")) for level in LEVELS
    ] + [
        [f"verify, per signature (total / 2), {level}", cell(f"verify.{level}", 2), cell(f"pyhanko.validate.{level}", 2),
         "", cell(f"pdfsig.{level}", 2)] for level in LEVELS
    ]
    print_grid("Per signature, median wall ms: ours (seal drawn; 9 verification steps) | pyHanko bare | pdfsig",
               ["", "ours", "pyHanko (SimpleSigner)", "pyHanko (our ProtocolSigner)", "pdfsig"], side)


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--pages", type=int, default=DEFAULT_PAGES, help=f"pages of the contract (default {DEFAULT_PAGES})")
    cli.add_runs(p, DEFAULT_RUNS, "timed runs, each row once per run; the median is reported")
    cli.add_idle_wait(p, DEFAULT_IDLE_WAIT_SECONDS, before="each run")
    cli.add_quick(p, "2 pages, 1 run, no idle wait")
    cli.add_node_start(p, ready_timeout=TSA_READY_TIMEOUT_SECONDS)
    p.add_argument("--keep", type=Path, help="write the signed PDFs (and the NSS database) here and keep them")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="after the runs, profile N calls of party 1's and party 2's B-B signing and of the B-B "
                        "verification (cProfile; default 0 = off)")
    cli.add_figures_out(p)
    args = p.parse_args(argv)
    if args.quick:
        args.pages, args.runs, args.idle_wait = 2, 1, 0.0
    cli.require_positive(p, args, "pages", "runs")

    info = machine_info()
    ledger = find_ledger(args.ledger)
    work = Path(tempfile.mkdtemp(prefix="pdf-signing-bench-"))
    files = (args.keep or work / "files").resolve()
    files.mkdir(parents=True, exist_ok=True)
    tsa: TsaProcess | None = None
    samples: dict[str, list[Sample]] = {}
    idle: list[dict[str, Any]] = []
    try:
        # The workload, not timed.
        started = time.perf_counter()
        parties = make_parties(datetime.now(UTC))
        document = contract_pdf(args.pages)
        (files / "contract-unsigned.pdf").write_bytes(document)
        setup_s = time.perf_counter() - started
        tsa = TsaProcess.create(ledger, work / "tsa", args.ready_timeout)
        skipped = pdfsig_missing()
        nssdir = nss_database(files / "nss", [p.root for p in parties]) if skipped is None else None
        ctx = Context(parties, document, tsa, files, nssdir,
                      (pyhanko_signer(parties[0].identity), pyhanko_signer(parties[1].identity)),
                      (ProtocolSigner(parties[0].identity), ProtocolSigner(parties[1].identity)),
                      {"unsigned": len(document)})
        one_run(ctx, {})  # warm-up: imports, pyHanko's lazy set-up, the files in the page cache
        busy0, total0 = machine_cpu()
        for run in range(1, args.runs + 1):
            idle.append(wait_for_idle(args.idle_wait))
            one_run(ctx, samples)
            print(f"run {run}/{args.runs}: sign B-B {samples[f'sign.B-B.{parties[0].label}'][-1].wall_ms:.1f} + "
                  f"{samples[f'sign.B-B.{parties[1].label}'][-1].wall_ms:.1f} ms, verify B-B "
                  f"{samples['verify.B-B'][-1].wall_ms:.1f} ms", file=sys.stderr, flush=True)
        busy1, total1 = machine_cpu()
    finally:
        if tsa is not None:
            tsa.stop()
        shutil.rmtree(work, ignore_errors=True)

    busy_cores = (busy1 - busy0) / (total1 - total0) * len(os.sched_getaffinity(0)) if total1 > total0 else 0.0
    load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    waited = sum(i["waited_s"] for i in idle)
    not_idle = sum(1 for i in idle if i["idle"] is False)
    seal = parties[0].seal
    print_table("Contract PDF signing and verification", machine_rows(info) + [
        ("load average at the end (1/5/15 min)", load_end),
        ("machine busy during the runs (all processes, this one included)", f"{busy_cores:.2f} cores"),
        ("idle wait before the runs", f"{waited:.0f} s in all; {not_idle} of {len(idle)} runs started on a busy "
                                      "machine" if args.idle_wait else "off"),
        ("contract", f"{args.pages} pages, {len(document):,} bytes (CJK font subset embedded); set-up "
                     f"{setup_s:.1f} s, not timed"),
        ("seal images", f"{seal.width}x{seal.height} px, {len(seal.data):,} and {len(parties[1].seal.data):,} "
                        "byte PNGs"),
        ("file sizes", "; ".join(f"{k} {v:,} B" for k, v in ctx.sizes.items())),
        ("runs", f"{args.runs} timed (+1 warm-up), every row once per run, interleaved"),
    ])
    print_report(samples, parties, skipped)
    if args.profile:
        print_profiles(ctx, args.profile)
    note = f"{args.pages}-page PDF, median of {args.runs}"
    write_figures(args.figures_out, "pdf_signing", build_figures(samples, parties, note), pages=args.pages,
                  runs=args.runs, sizes=ctx.sizes, pdfsig_skipped=skipped, idle=idle,
                  busy_cores=round(busy_cores, 2), load_end=load_end,
                  cpu_ms={k: _median([s.cpu_ms for s in v]) for k, v in samples.items()})
    if args.keep:
        print(f"\nthe signed files are in {files}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
