# Sourced by scripts/dev-node and scripts/test: make .venv with the project installed.
# Re-installs when pyproject.toml changes. Needs only Python >= 3.11 and the package index.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "evidence-ledger needs Python >= 3.11")'
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
  .venv/bin/python -m pip install --quiet -e '.[test]' >&2
  rm -f .venv/.installed-*
  touch "$stamp"
fi
