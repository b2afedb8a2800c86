// Evidence certificates (client/evidence_pdf.py) as the Verify page's input: the signed PDF
// carries receipt.json as an embedded file, which is read here with pdf-lib's object model
// (the document's /EmbeddedFiles name tree, as pdfdetach lists it) and verified as any
// receipt. The PDF's own signature is not checked in the browser: that needs the issuer's
// roots and a CMS verifier (`ledger evidence verify cert.pdf --issuer-root`).
import { Inflate, PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFRawStream, PDFString } from "ledger/vendor/pdf.js";
import { MAX_RECEIPT_DOCUMENT_BYTES, STEPS, VerificationError, verifyReceipt } from "ledger/receipt.js";

export const RECEIPT_ATTACHMENT = "receipt.json";
// The step a certificate that yields no receipt fails at, as `ledger evidence verify` names it.
export const STEP = "embedded receipt";
// A certificate PDF larger than this is refused before it is parsed: the same bound as the
// CLI's (client/pdf_signatures.py MAX_SIGNED_PDF_BYTES). Ours are ~100 KB; the bound leaves
// room for a long vote history in the attached receipt (itself capped at 8 MiB).
export const MAX_CERTIFICATE_PDF_BYTES = 16 * 1024 * 1024;
// Name-tree nodes visited looking for receipt.json, and how deep: client/evidence_pdf.py's
// MAX_NAME_TREE_NODES / MAX_NAME_TREE_DEPTH. Ours has one node; a wider or deeper tree in a
// PDF someone hands us is not worth walking.
export const MAX_NAME_TREE_NODES = 64;
export const MAX_NAME_TREE_DEPTH = 8;
const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // "%PDF-"

/** True when `bytes` starts as a PDF file does. */
export function isPdf(bytes) {
  return bytes.length >= PDF_MAGIC.length && PDF_MAGIC.every((b, i) => bytes[i] === b);
}

const fail = (reason) => { throw new VerificationError(STEP, reason); };
const text = (value) => (value instanceof PDFString || value instanceof PDFHexString ? value.decodeText() : null);

/** The value named `wanted` in a PDF name tree (ISO 32000-1 7.9.6), breadth first within the caps. */
function findName(document, tree, wanted) {
  const queue = [[tree, 0]];
  let visited = 0;
  while (queue.length) {
    const [node, depth] = queue.shift();
    visited += 1;
    if (visited > MAX_NAME_TREE_NODES) fail(`the attachment tree has over ${MAX_NAME_TREE_NODES} nodes`);
    if (!(node instanceof PDFDict)) continue;
    const names = node.lookup(PDFName.of("Names"));
    if (names instanceof PDFArray) {
      for (let i = 0; i + 1 < names.size(); i += 2) {
        if (text(names.lookup(i)) === wanted) return names.lookup(i + 1);
      }
    }
    const kids = node.lookup(PDFName.of("Kids"));
    if (kids instanceof PDFArray && depth < MAX_NAME_TREE_DEPTH) {
      for (let i = 0; i < kids.size(); i++) queue.push([kids.lookup(i), depth + 1]);
    }
  }
  return fail(`the PDF has no ${RECEIPT_ATTACHMENT} attachment`);
}

/** The attachment's bytes: none or Flate, as ours are, inflated without ever holding more
 *  than the receipt cap (a small compressed stream could otherwise inflate to gigabytes). */
function decodeAttachment(stream) {
  const filter = stream.dict.lookup(PDFName.of("Filter"));
  const filters = filter === undefined ? [] : filter instanceof PDFArray ? filter.asArray() : [filter];
  const names = filters.map((f) => (f instanceof PDFName ? f.asString() : String(f)));
  if (stream.dict.lookup(PDFName.of("DecodeParms")) !== undefined) fail("the attachment uses decode parameters; ours use none");
  if (names.length === 0) {
    if (stream.contents.length > MAX_RECEIPT_DOCUMENT_BYTES) fail(`the receipt exceeds ${MAX_RECEIPT_DOCUMENT_BYTES} bytes`);
    return stream.contents;
  }
  if (names.length !== 1 || names[0] !== "/FlateDecode") fail(`the attachment is encoded with ${names.join(" ")}; ours use Flate`);
  const chunks = [];
  let size = 0;
  const inflater = new Inflate();
  inflater.onData = (chunk) => {
    size += chunk.length;
    if (size > MAX_RECEIPT_DOCUMENT_BYTES) throw new VerificationError(STEP, `the receipt exceeds ${MAX_RECEIPT_DOCUMENT_BYTES} bytes`);
    chunks.push(chunk);
  };
  inflater.push(stream.contents, true);
  if (inflater.err) fail(`the attachment is not valid Flate data: ${inflater.msg}`);
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) { out.set(chunk, at); at += chunk.length; }
  return out;
}

/** The bytes of the certificate's receipt.json; VerificationError at step "embedded receipt".
 *  Does not check the PDF's signature. */
export async function readEmbeddedReceipt(pdf) {
  if (pdf.length > MAX_CERTIFICATE_PDF_BYTES) fail(`${pdf.length} bytes exceeds ${MAX_CERTIFICATE_PDF_BYTES}`);
  let document;
  try {
    document = await PDFDocument.load(pdf, { ignoreEncryption: true, updateMetadata: false, throwOnInvalidObject: false });
  } catch (e) {
    fail(`not a readable PDF: ${e.message}`);
  }
  // pdf-lib reads what it can of a damaged file: one with no catalog is no PDF to us.
  if (!(document.catalog instanceof PDFDict)) fail("not a readable PDF: it has no document catalog");
  try {
    const names = document.catalog.lookup(PDFName.of("Names"));
    const tree = names instanceof PDFDict ? names.lookup(PDFName.of("EmbeddedFiles")) : undefined;
    if (!(tree instanceof PDFDict)) fail("the PDF has no embedded files");
    const spec = findName(document, tree, RECEIPT_ATTACHMENT);
    const files = spec instanceof PDFDict ? spec.lookup(PDFName.of("EF")) : undefined;
    const stream = files instanceof PDFDict ? files.lookup(PDFName.of("F")) : undefined;
    if (!(stream instanceof PDFRawStream)) fail(`the ${RECEIPT_ATTACHMENT} attachment has no embedded stream`);
    return decodeAttachment(stream);
  } catch (e) {
    if (e instanceof VerificationError) throw e;
    return fail(`the ${RECEIPT_ATTACHMENT} attachment cannot be read: ${e.message}`);
  }
}

/** verifyReceipt for a receipt or an evidence certificate PDF (`receiptText`: its bytes).
 *  For a PDF the result also says `certificate: {issuer: "not checked"}`; a PDF that yields
 *  no receipt fails at step "embedded receipt". Never throws for bad input. */
export async function verifyDocument({ receiptText, genesisText, file = null }) {
  if (!isPdf(receiptText)) return verifyReceipt({ receiptText, genesisText, file });
  let embedded;
  try {
    embedded = await readEmbeddedReceipt(receiptText);
  } catch (e) {
    if (!(e instanceof VerificationError)) throw e;
    return { valid: false, failedStep: e.step, reason: e.reason, verified: null,
      steps: STEPS.map((step) => ({ step, status: "not run", note: "" })), certificate: { issuer: "not checked" } };
  }
  return { ...verifyReceipt({ receiptText: embedded, genesisText, file }), certificate: { issuer: "not checked" } };
}
