// An RFC 3161 time-stamp token's structure, as evidence/timestamp.py step 1 reads it: a DER
// ContentInfo holding a SignedData whose content is a TSTInfo (version 1, a positive serial
// of at most 160 bits, a UTC genTime, no critical extension), signed by exactly one
// SignerInfo, within the size caps. Read with the vendored asn1js and @peculiar schemas,
// never by hand. Who signed the token and over what (steps 2-8) is not checked here: that
// needs the TSA's roots and a CMS verifier. Pure: bytes in, a summary out.
import { AsnConvert, ContentInfo, SignedData, TSTInfo, fromBER, id_ct_tstInfo, id_signedData } from "ledger/vendor/asn1.js";

// The caps of evidence/timestamp.py, with its reasons: a TSTInfo, one signature and the
// TSA's 1-3 certificates fit many times over in 64 KiB; a TSA sends its own certificate
// and at most its CA chain; RFC 3161 section 2.4.2 bounds serial numbers at 160 bits.
export const MAX_TOKEN_BYTES = 64 * 1024;
export const MAX_CERTIFICATES = 8;
export const MAX_SERIAL_BITS = 160;
// GeneralizedTime with a zone (Z or +hhmm): asn1crypto reads one without as a naive time,
// which the reference refuses.
const ZONED_TIME = /(?:Z|[+-][0-9]{4})$/;

export class TokenStructureError extends Error {
  constructor(reason) { super(reason); this.step = "structure"; this.reason = reason; }
}

/** `bytes` as one DER value of `schema`, with nothing after it (asn1crypto's strict=True). */
function load(bytes, schema, what) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const read = fromBER(view);
  if (read.offset === -1) throw new TokenStructureError(`not a DER ${what}: ${read.result.error}`);
  if (read.offset !== view.length) throw new TokenStructureError(`not a DER ${what}: ${view.length - read.offset} bytes after it`);
  try {
    return [AsnConvert.parse(view, schema), read.result];
  } catch (e) {
    throw new TokenStructureError(`not a DER ${what}: ${e.message}`);
  }
}

/** Integer content octets (two's complement, as DER holds them) as a BigInt. */
function signedInteger(buffer) {
  const bytes = new Uint8Array(buffer);
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  if (bytes.length && bytes[0] & 0x80) n -= 1n << BigInt(8 * bytes.length);
  return n;
}

/** Step 1 of evidence/timestamp.py over `token` (DER bytes): {genTime, serial},
 *  or TokenStructureError naming what does not hold. */
export function parseToken(token) {
  // 1. structure
  if (token.length > MAX_TOKEN_BYTES) throw new TokenStructureError(`the token is ${token.length} bytes, more than the ${MAX_TOKEN_BYTES} allowed`);
  const [contentInfo] = load(token, ContentInfo, "CMS ContentInfo");
  if (contentInfo.contentType !== id_signedData) throw new TokenStructureError(`the ContentInfo holds ${contentInfo.contentType}, not a SignedData`);
  let signedData;
  try { signedData = AsnConvert.parse(contentInfo.content, SignedData); } catch (e) {
    throw new TokenStructureError(`the SignedData is malformed: ${e.message}`);
  }
  const encap = signedData.encapContentInfo;
  if (encap.eContentType !== id_ct_tstInfo) throw new TokenStructureError(`the signed content is ${encap.eContentType}, not a TSTInfo (id-ct-TSTInfo)`);
  const signers = signedData.signerInfos.length;
  if (signers !== 1) throw new TokenStructureError(`a token is signed once, by the TSA; this one has ${signers} signatures`);
  const certificates = signedData.certificates ? signedData.certificates.length : 0;
  if (certificates > MAX_CERTIFICATES) throw new TokenStructureError(`the token carries ${certificates} certificates, more than the ${MAX_CERTIFICATES} allowed`);
  const content = encap.eContent?.single;
  if (!content) throw new TokenStructureError("the SignedData does not carry its TSTInfo");
  const [info, asn] = load(content.buffer, TSTInfo, "TSTInfo");
  if (info.version !== 1) throw new TokenStructureError(`TSTInfo version ${info.version} is not 1`);
  const serial = signedInteger(info.serialNumber);
  if (serial <= 0n || serial.toString(2).length > MAX_SERIAL_BITS) throw new TokenStructureError(`the serial number must be positive and at most ${MAX_SERIAL_BITS} bits`);
  // genTime is the fifth field of the TSTInfo SEQUENCE; its text says whether it has a zone.
  const rawTime = new TextDecoder().decode(asn.valueBlock.value[4]?.valueBlock?.valueHexView ?? new Uint8Array(0));
  if (!(info.genTime instanceof Date) || Number.isNaN(info.genTime.getTime()) || !ZONED_TIME.test(rawTime)) {
    throw new TokenStructureError("genTime is not a UTC date and time");
  }
  for (const extension of info.extensions ?? []) {
    if (extension.critical) throw new TokenStructureError(`the TSTInfo has a critical extension we do not process: ${extension.extnID}`);
  }
  return { genTime: info.genTime, serial };
}
