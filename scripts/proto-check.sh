#!/usr/bin/env bash
# `make proto-check`: buf lint (STANDARD rules, exceptions in proto/buf.yaml) and buf
# breaking against the last commit — the working tree's proto/ against HEAD when it has
# uncommitted changes, else HEAD against the commit before it (what CI, on a fresh clone,
# checks). buf comes from PyPI (buf-bin), in .local/tools-venv.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.local/tools-venv
# shellcheck source=scripts/python-venv.sh
. scripts/python-venv.sh
python_venv "$VENV" scripts/tools-requirements.txt
BUF=$PWD/$VENV/bin/buf

echo "==> buf lint"
(cd proto && "$BUF" lint)

if [ -n "$(git status --porcelain -- proto)" ]; then
  against=HEAD
elif git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then
  against=HEAD~1
else
  echo "==> buf breaking: skipped, this clone has no commit before HEAD (a shallow clone?)"
  exit 0
fi
echo "==> buf breaking against $against"
(cd proto && "$BUF" breaking --against "../.git#ref=$against,subdir=proto")
