#!/usr/bin/env bash
# Creates (or reuses) a Python venv with the pinned bittensor SDKs outside the repository and
# prints its python on the last line. Keyed by the requirements' hash, so a change rebuilds it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
req="$here/../python/requirements.txt"
key=$(sha256sum "$req" | cut -c1-12)
cache=${SUBNET_OPERATOR_CACHE:-$HOME/.cache/subnet-operator}
venv="$cache/venv-$key"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import bittensor, bittensor_wallet' 2>/dev/null; then
  echo "[python-venv] creating $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
fi
echo "$venv/bin/python"
