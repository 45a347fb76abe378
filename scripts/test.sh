#!/usr/bin/env bash
# Lint, type check, check the layering (import-linter), then unit and integration tests.
# Fails at the first failing step.
# Extra arguments go to pytest, e.g. ./scripts/test.sh tests/unit -x
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

bash "$ROOT/scripts/bootstrap.sh"

VENV_BIN="$ROOT/.venv/bin"

step() { printf '\n==> %s\n' "$*"; }

step "ruff format --check ."
"$VENV_BIN/ruff" format --check .

step "ruff check ."
"$VENV_BIN/ruff" check .

step "mypy (strict; files from pyproject.toml)"
"$VENV_BIN/mypy"

step "lint-imports (layering contracts from pyproject.toml)"
"$VENV_BIN/lint-imports" --no-cache

step "pytest${*:+ $*}"
rc=0
"$VENV_BIN/pytest" "$@" || rc=$?
if ((rc == 5)); then
    printf 'test.sh: error: pytest collected no tests (exit code 5); that counts as a failure.\n' >&2
    exit 5
fi
exit "$rc"
