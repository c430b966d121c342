#!/usr/bin/env bash
# Sourced by the scripts that run Python tools: `python_venv DIR REQUIREMENTS` makes a
# venv in DIR (git-ignored, reused) with the pinned REQUIREMENTS installed, installing
# Debian's python3-venv first where venv/ensurepip is missing.

python_venv() {
  local venv=$1 requirements=$2
  # A venv whose pip does not run (made without ensurepip, or whose Python went away) is
  # made again.
  if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian splits venv/ensurepip into python3-venv.
      rm -rf "$venv"
      echo "==> installing python3-venv (apt-get)"
      local sudo=
      [ "$(id -u)" = 0 ] || sudo=sudo
      $sudo apt-get update -qq
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    fi
  fi
  # Install only when the pinned set changed since the last successful install.
  local stamp=$venv/.requirements
  if ! cmp -s "$requirements" "$stamp"; then
    echo "==> installing $requirements into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
  fi
}
