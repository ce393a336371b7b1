#!/usr/bin/env bash
# Install what is needed and run the LeNet demo on the local backend and the embedded object store (offline).
# Extra arguments go to `launcher submit`, e.g. `bash scripts/demo.sh --epochs 1`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh ""
python -m launcher submit recipes/lenet.yaml "$@"
python -m launcher list --limit 5
