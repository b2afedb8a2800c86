// The one module the Verify page reads evidence certificates with (node/web/vendor.sh
// bundles this file into static/vendor/pdf.js): pdf-lib's object model to find the
// receipt.json attachment, pako's streaming inflater to decode it within a cap.
export { PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFRawStream, PDFRef, PDFString } from "pdf-lib";
export { Inflate } from "pako/lib/inflate.js";
