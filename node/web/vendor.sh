#!/usr/bin/env bash
# Rebuild node/web/static/vendor/ from the npm registry: the verifier's cryptography and
# RLP (static/vendor/crypto.js, one ES module bundled by esbuild from vendor/entry.js), the
# PDF reader for evidence certificates (static/vendor/pdf.js, from vendor/entry-pdf.js:
# pdf-lib and pako), the DER reader for time-stamp tokens (static/vendor/asn1.js, from
# vendor/entry-asn1.js: asn1js and @peculiar's ASN.1 schemas) and Swagger UI's assets for
# /docs, with every package's licence.
# Versions are exact (vendor/package.json) and `npm ci` installs what
# vendor/package-lock.json pins, integrity hashes checked, so two runs give the same
# bytes; SHA256SUMS lists them so a reviewer sees a rebuild changed nothing. Needs node
# and npm; nothing runs it at run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/vendor/package.json" "$here/vendor/package-lock.json" "$here/vendor/entry.js" "$here/vendor/entry-pdf.js" \
  "$here/vendor/entry-asn1.js" "$here/vendor/entry-eth.js" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
# esbuild's own binary ships in a registry package (@esbuild/<platform>); --ignore-scripts
# skipped its install check, so point at it directly.
esbuild="$(find "$work/node_modules/@esbuild" -path '*/bin/esbuild' -type f | head -n 1)"
rm -rf "$out"
mkdir -p "$out/licenses" "$out/swagger-ui"
# ES2020: BigInt, which noble needs; no minification, so the vendored code can be read and
# compared with the packages' own sources.
# Run from the work directory: the paths esbuild writes in its comments are relative to it,
# so the output does not depend on where mktemp put it.
(cd "$work" && "$esbuild" entry.js --bundle --format=esm --target=es2020 --charset=utf8 \
  --legal-comments=inline --log-level=warning --outfile=crypto.js)
(cd "$work" && "$esbuild" entry-pdf.js --bundle --format=esm --target=es2020 --charset=utf8 \
  --legal-comments=inline --log-level=warning --outfile=pdf.js)
(cd "$work" && "$esbuild" entry-asn1.js --bundle --format=esm --target=es2020 --charset=utf8 \
  --legal-comments=inline --log-level=warning --outfile=asn1.js)
(cd "$work" && "$esbuild" entry-eth.js --bundle --format=esm --target=es2020 --charset=utf8 \
  --legal-comments=inline --log-level=warning --outfile=eth.js)
cp "$work/crypto.js" "$out/crypto.js"
cp "$work/pdf.js" "$out/pdf.js"
cp "$work/asn1.js" "$out/asn1.js"
cp "$work/eth.js" "$out/eth.js"
# Every package whose code is in a bundle (the libraries' own dependencies included), by
# its folder under node_modules: the @peculiar schemas carry their own tslib 2, nested,
# beside pdf-lib's tslib 1 at the top.
for package in @noble/hashes @noble/curves @ethereumjs/rlp sm-crypto swagger-ui-dist \
    pdf-lib pako tslib @pdf-lib/standard-fonts @pdf-lib/upng \
    asn1js pvtsutils pvutils @peculiar/utils @peculiar/asn1-schema @peculiar/asn1-cms \
    @peculiar/asn1-x509 @peculiar/asn1-x509-attr @peculiar/asn1-tsp @peculiar/asn1-cms/node_modules/tslib \
    micro-eth-signer micro-packed @scure/base; do
  dir="$work/node_modules/$package"
  name="$(node -p "require('$dir/package.json').name")"
  version="$(node -p "require('$dir/package.json').version")"
  for licence in LICENSE LICENSE.md LICENSE.txt LICENCE LICENCE_MIT NOTICE; do
    if [ -f "$dir/$licence" ]; then
      cp "$dir/$licence" "$out/licenses/${name//\//_}-$version.$licence"
    fi
  done
done
for asset in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png; do
  cp "$work/node_modules/swagger-ui-dist/$asset" "$out/swagger-ui/"
done
(cd "$out" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
echo "vendored into $out:"
cat "$out/SHA256SUMS"
