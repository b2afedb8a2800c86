#!/usr/bin/env bash
# Rebuild node/web/static/vendor/ from the npm registry: the verifier's cryptography and
# RLP (static/vendor/crypto.js, one ES module bundled by esbuild from vendor/entry.js) and
# Swagger UI's assets for /docs, with every package's licence. Versions are exact
# (vendor/package.json) and `npm ci` installs what vendor/package-lock.json pins, integrity
# hashes checked, so two runs give the same bytes; SHA256SUMS lists them so a reviewer
# sees a rebuild changed nothing. Needs node and npm; nothing runs it at run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/vendor/package.json" "$here/vendor/package-lock.json" "$here/vendor/entry.js" "$work/"
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
cp "$work/crypto.js" "$out/crypto.js"
for package in @noble/hashes @noble/curves @ethereumjs/rlp sm-crypto swagger-ui-dist; do
  dir="$work/node_modules/$package"
  version="$(node -p "require('$dir/package.json').version")"
  for licence in LICENSE LICENSE.md LICENCE LICENCE_MIT NOTICE; do
    if [ -f "$dir/$licence" ]; then
      cp "$dir/$licence" "$out/licenses/${package//\//_}-$version.$licence"
    fi
  done
done
for asset in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png; do
  cp "$work/node_modules/swagger-ui-dist/$asset" "$out/swagger-ui/"
done
(cd "$out" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
echo "vendored into $out:"
cat "$out/SHA256SUMS"
