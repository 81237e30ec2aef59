# Shared by scripts/main and scripts/test: make .venv and install promptc with the given extras.
# Model weights are not installed: the scripts pull them (promptc models pull NAME) into the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[$1]"
export HF_HUB_OFFLINE=1
