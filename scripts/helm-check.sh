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

# shellcheck source=scripts/python-venv.sh
. scripts/python-venv.sh
python_venv "$VENV" "$REQUIREMENTS"

exec "$VENV/bin/python" scripts/helm_check.py "$@"
