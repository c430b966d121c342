#!/usr/bin/env bash
# `make docs-check`: the grpcurl commands of README.md, docs/*.md and `make run`'s hint,
# run as written with grpcurl 1.8.6 against a fresh server and dispatcher (a database and
# topic of their own), each answer checked against its `# →` comment; the fresh
# processes' metrics scraped with prometheus_client; the webhooks that arrive verified
# with the standardwebhooks library. See scripts/docs_check.py.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.local/tools-venv
# shellcheck source=scripts/python-venv.sh
. scripts/python-venv.sh
python_venv "$VENV" scripts/tools-requirements.txt
if ! command -v jq >/dev/null; then
  echo "==> installing jq (apt-get; the README's examples use it)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi
PATH=$PWD/$VENV/bin:$PATH exec "$VENV/bin/python" scripts/docs_check.py "$@"
