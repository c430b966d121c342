#!/usr/bin/env bash
# `make helm-check`: lints the Helm chart (helm/producer-profile), renders it with the
# minimal and the production values (helm/ci/production-values.yaml) and validates every
# manifest offline against the Kubernetes API schemas (scripts/helm_check.py).
# Needs no helm binary and no cluster: the Helm SDK comes from PyPI (helm-python-sdk),
# installed with kubernetes-validate into .local/helm-venv (git-ignored, reused).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.local/helm-venv
REQUIREMENTS=scripts/helm-check-requirements.txt

# A venv whose pip does not run (made without ensurepip, or whose Python went away) is
# made again.
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian splits venv/ensurepip into python3-venv.
    rm -rf "$VENV"
    echo "==> installing python3-venv (apt-get)"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
fi

# Install only when the pinned set changed since the last successful install.
STAMP=$VENV/.helm-check-requirements
if ! cmp -s "$REQUIREMENTS" "$STAMP"; then
  echo "==> installing $REQUIREMENTS into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$STAMP"
fi

exec "$VENV/bin/python" scripts/helm_check.py "$@"
