#!/usr/bin/env bash
# `make proto-check`: buf lint (STANDARD rules, exceptions in proto/buf.yaml) and buf
# breaking: every commit that changed proto/ against the commit before it, and the
# working tree's uncommitted proto/ changes against HEAD. buf comes from PyPI (buf-bin),
# in .local/tools-venv.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.local/tools-venv
# shellcheck source=scripts/python-venv.sh
. scripts/python-venv.sh
python_venv "$VENV" scripts/tools-requirements.txt
BUF=$PWD/$VENV/bin/buf

echo "==> buf lint"
(cd proto && "$BUF" lint)

# Every commit that changed proto/ against its parent (a push of several commits cannot
# slip a break past the check in its middle), except the deliberate breaks listed with
# their reasons in proto/breaking-changes.txt; then uncommitted changes against HEAD.
acknowledged=$(grep -v '^#' proto/breaking-changes.txt | awk 'NF {print $1}' |
  while read -r commit; do git rev-parse -q --verify "$commit^{commit}" || true; done)
checked=0
for commit in $(git rev-list HEAD -- proto); do
  parent=$(git rev-parse -q --verify "$commit~1^{commit}") || {
    echo "==> buf breaking: $(git log -1 --format=%h "$commit") has no parent here (the first commit, or a shallow clone): not checked"
    continue
  }
  git cat-file -e "$parent:proto" 2>/dev/null || continue
  if grep -qx "$commit" <<<"$acknowledged"; then
    echo "==> buf breaking: $(git log -1 --format=%h "$commit") is a listed deliberate break"
    continue
  fi
  (cd proto && "$BUF" breaking "../.git#ref=$commit,subdir=proto" \
    --against "../.git#ref=$parent,subdir=proto") || {
    echo "buf breaking: commit $(git log -1 --format='%h %s' "$commit") breaks the API" >&2
    echo "(a deliberate break goes into proto/breaking-changes.txt with its reason)" >&2
    exit 1
  }
  checked=$((checked + 1))
done
echo "==> buf breaking: $checked commits that changed proto/, each against its parent"
if [ -n "$(git status --porcelain -- proto)" ]; then
  echo "==> buf breaking: uncommitted proto/ changes against HEAD"
  (cd proto && "$BUF" breaking --against "../.git#ref=HEAD,subdir=proto")
fi
