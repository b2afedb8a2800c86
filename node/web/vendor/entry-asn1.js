// The one module the verifier reads DER with (node/web/vendor.sh bundles this file into
// static/vendor/asn1.js): asn1js's BER/DER reader and @peculiar's ASN.1 schemas for CMS
// (RFC 5652), X.509 (RFC 5280) and the time-stamp protocol (RFC 3161), for step 1
// (structure) of a receipt's time-stamp token as evidence/timestamp.py reads it with
// asn1crypto. Nothing here verifies a signature.
export { fromBER } from "asn1js";
export { AsnConvert } from "@peculiar/asn1-schema";
export { ContentInfo, SignedData, id_signedData } from "@peculiar/asn1-cms";
export { TSTInfo, id_ct_tstInfo } from "@peculiar/asn1-tsp";
// X.509 certificates alone: the admin page's "trust a CA root" form shows the root's
// subject before an admin signs for it.
export { Certificate } from "@peculiar/asn1-x509";
