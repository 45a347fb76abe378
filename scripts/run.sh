#!/usr/bin/env bash
# Run the whole system in one process on the embedded defaults (see README.md).
# Extra arguments go to `tickets up`, e.g. ./scripts/run.sh --port 8080
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

bash "$ROOT/scripts/bootstrap.sh"

exec "$ROOT/.venv/bin/tickets" up "$@"
