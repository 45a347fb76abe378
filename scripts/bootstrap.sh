#!/usr/bin/env bash
# Prepare the project for running or testing:
#   1. find a Python 3.13 interpreter,
#   2. create .venv (or recreate it when its Python is not 3.13),
#   3. install requirements.txt and the project itself (editable) - skipped when
#      .venv/.bootstrap-stamp records the current sha256 of requirements*.txt + pyproject.toml,
#   4. fetch promtool and amtool into .venv/bin (Debian's prometheus packages, unpacked, not
#      installed) for the checks of deploy/ - skipped with a note where apt-get cannot,
#   5. install the JavaScript tools the tests run (tests/js: the AsyncAPI parser) into
#      tests/js/node_modules with `npm ci` - skipped when its stamp matches
#      tests/js/package-lock.json, and with a note where npm is missing,
#   6. make sure RabbitMQ answers at RABBITMQ_URL (default amqp://guest:guest@localhost:5672/),
#      starting the local server when the target is the local default and it is installed.
#
# Works from any directory; may be called (bash scripts/bootstrap.sh) or sourced.
#
# Environment:
#   TICKETS_PYTHON         use this interpreter (must be Python 3.13) instead of searching
#   RABBITMQ_URL           broker to check (default amqp://guest:guest@localhost:5672/)
#   TICKETS_RABBITMQ_WAIT  seconds to wait for the broker to answer (default 60)
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

_bs_log() { printf 'bootstrap: %s\n' "$*" >&2; }
_bs_die() {
    printf 'bootstrap: error: %s\n' "$*" >&2
    exit 1
}

# --- 1. Python 3.13 -------------------------------------------------------------------------

_bs_is_py313() {
    # True when "$1" runs and is CPython 3.13 (a failing pyenv shim returns non-zero).
    [[ -n "$1" ]] || return 1
    "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)' \
        >/dev/null 2>&1
}

_bs_find_python() {
    local candidate pyenv_root
    local -a candidates=()

    # pyenv's own 3.13 builds, newest first (the python3.13 shim refuses to run unless a
    # 3.13 version is selected, so call the interpreter by its path).
    if command -v pyenv >/dev/null 2>&1; then
        pyenv_root="$(pyenv root 2>/dev/null || true)"
    fi
    pyenv_root="${pyenv_root:-${PYENV_ROOT:-$HOME/.pyenv}}"
    if [[ -d "$pyenv_root/versions" ]]; then
        while IFS= read -r candidate; do
            candidates+=("$candidate")
        done < <(
            find "$pyenv_root/versions" -mindepth 3 -maxdepth 3 \
                -path "$pyenv_root/versions/3.13.*/bin/python3.13" 2>/dev/null | sort -rV
        )
    fi

    # A python3.13 on PATH that actually runs, then the system one.
    candidate="$(command -v python3.13 2>/dev/null || true)"
    candidates+=("$candidate" /usr/bin/python3.13 /usr/local/bin/python3.13)

    for candidate in "${candidates[@]}"; do
        if _bs_is_py313 "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

if [[ -n "${TICKETS_PYTHON:-}" ]]; then
    _bs_is_py313 "$TICKETS_PYTHON" || _bs_die "TICKETS_PYTHON=$TICKETS_PYTHON is not a working Python 3.13"
    PYTHON313="$TICKETS_PYTHON"
else
    PYTHON313="$(_bs_find_python)" || _bs_die "Python 3.13 not found.
  Looked in: \$(pyenv root)/versions/3.13.*/bin/python3.13, python3.13 on PATH, /usr/bin/python3.13.
  Install Python 3.13 (e.g. 'pyenv install 3.13') or set TICKETS_PYTHON=/path/to/python3.13."
fi

# --- 2 and 3. virtualenv and packages -------------------------------------------------------

VENV="$ROOT/.venv"
STAMP="$VENV/.bootstrap-stamp"

_bs_pip() {
    # pip, minus the per-package noise about configured local index folders that do not
    # exist on this machine; every other warning and error still shows.
    "$VENV/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file:.*' is ignored: it is neither a file nor a directory\.$" >&2 || true)
}

_bs_setup_venv() {
    if [[ -e "$VENV" ]] && ! _bs_is_py313 "$VENV/bin/python"; then
        _bs_log "$VENV does not run Python 3.13; recreating it"
        rm -rf -- "$VENV"
    fi
    if [[ ! -e "$VENV" ]]; then
        _bs_log "creating $VENV with $PYTHON313"
        "$PYTHON313" -m venv "$VENV"
    fi

    local want have=""
    want="$(cat requirements.txt requirements/*.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
    [[ -f "$STAMP" ]] && have="$(<"$STAMP")"
    if [[ "$have" == "$want" && -x "$VENV/bin/tickets" ]]; then
        return 0
    fi

    local started=$SECONDS
    _bs_log "installing requirements.txt and the project into .venv (this can take a few minutes)"
    rm -f -- "$STAMP"
    _bs_pip install -q -r requirements.txt
    # setuptools comes pinned from requirements.txt, so build without an isolated env.
    _bs_pip install -q --no-deps --no-build-isolation -e .
    printf '%s\n' "$want" >"$STAMP"
    _bs_log "installed in $((SECONDS - started)) s"
}

# --- 4. promtool and amtool ----------------------------------------------------------------

_bs_deploy_tools() {
    [[ -x "$VENV/bin/promtool" && -x "$VENV/bin/amtool" ]] && return 0
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
        _bs_log "apt-get not found: the promtool/amtool checks of deploy/ will be skipped"
        return 0
    fi
    local work
    work="$(mktemp -d)"
    _bs_fetch() { (cd "$work" && apt-get download -q prometheus prometheus-alertmanager) >/dev/null 2>&1; }
    if ! _bs_fetch; then
        if [[ "$(id -u)" == 0 ]]; then
            apt-get update -q >/dev/null 2>&1 || true
        fi
        if ! _bs_fetch; then
            _bs_log "could not download Debian's prometheus packages: the promtool/amtool checks of deploy/ will be skipped"
            rm -rf -- "$work"
            return 0
        fi
    fi
    local deb
    for deb in "$work"/*.deb; do
        dpkg-deb -x "$deb" "$work/unpacked"
    done
    cp -- "$work/unpacked/usr/bin/promtool" "$work/unpacked/usr/bin/amtool" "$VENV/bin/"
    rm -rf -- "$work"
    _bs_log "promtool and amtool unpacked into .venv/bin"
}

# --- 5. JavaScript tools for the tests ------------------------------------------------------

_bs_js_tools() {
    local dir="$ROOT/tests/js" want have=""
    [[ -f "$dir/package-lock.json" ]] || return 0
    if ! command -v npm >/dev/null 2>&1; then
        _bs_log "npm not found: the tests that run JavaScript tools (tests/js) will fail"
        return 0
    fi
    want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
    [[ -f "$dir/node_modules/.bootstrap-stamp" ]] && have="$(<"$dir/node_modules/.bootstrap-stamp")"
    [[ "$have" == "$want" ]] && return 0
    _bs_log "installing the JavaScript test tools into tests/js/node_modules (npm ci)"
    # tests/js/.npmrc: no install scripts, no audit; the lock names no registry.
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
        || _bs_die "npm ci in tests/js failed (see above)"
    printf '%s\n' "$want" >"$dir/node_modules/.bootstrap-stamp"
}

# Serialise concurrent bootstraps (run.sh and test.sh started together) when flock exists.
if command -v flock >/dev/null 2>&1; then
    _bs_lock="${TMPDIR:-/tmp}/tickets-bootstrap-$(printf '%s' "$ROOT" | sha256sum | cut -c1-16).lock"
    (
        flock -w 900 9 || _bs_die "timed out waiting for another bootstrap ($_bs_lock)"
        _bs_setup_venv
        _bs_deploy_tools
        _bs_js_tools
    ) 9>"$_bs_lock"
else
    _bs_setup_venv
    _bs_deploy_tools
    _bs_js_tools
fi

# --- 6. RabbitMQ ----------------------------------------------------------------------------

RABBITMQ_WAIT="${TICKETS_RABBITMQ_WAIT:-60}"
[[ "$RABBITMQ_WAIT" =~ ^[0-9]+$ ]] || _bs_die "TICKETS_RABBITMQ_WAIT must be a whole number of seconds"

# host and port from RABBITMQ_URL (only these two are printed: the URL may carry a password).
_bs_broker="$(
    RABBITMQ_URL="${RABBITMQ_URL:-amqp://guest:guest@localhost:5672/}" "$PYTHON313" -c '
import os, sys
from urllib.parse import urlsplit
url = urlsplit(os.environ["RABBITMQ_URL"])
try:
    port = url.port
except ValueError:
    sys.exit("RABBITMQ_URL has an invalid port")
if url.scheme not in ("amqp", "amqps"):
    sys.exit("RABBITMQ_URL must start with amqp:// or amqps://")
print(url.hostname or "localhost", port or (5671 if url.scheme == "amqps" else 5672))
'
)" || _bs_die "cannot parse RABBITMQ_URL"
read -r RABBITMQ_HOST RABBITMQ_PORT <<<"$_bs_broker"

_bs_rabbit_answers() {
    # A TCP connect, at most 2 s.
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$RABBITMQ_HOST" "$RABBITMQ_PORT" \
        >/dev/null 2>&1
}

_bs_wait_rabbit() {
    local deadline=$((SECONDS + RABBITMQ_WAIT))
    while ((SECONDS < deadline)); do
        _bs_rabbit_answers && return 0
        sleep 1
    done
    _bs_rabbit_answers
}

_bs_no_broker() {
    _bs_die "RabbitMQ is not answering at $RABBITMQ_HOST:$RABBITMQ_PORT.
  $1
  Start a broker there, or point RABBITMQ_URL at one that runs, for example:
    export RABBITMQ_URL=amqp://USER:PASSWORD@HOST:5672/
  (TICKETS_RABBITMQ_WAIT sets how many seconds to wait for it; now $RABBITMQ_WAIT.)"
}

if ! _bs_rabbit_answers; then
    case "$RABBITMQ_HOST" in
        localhost | 127.0.0.1 | ::1) _bs_local=1 ;;
        *) _bs_local=0 ;;
    esac
    if [[ "$_bs_local" == 1 && "$RABBITMQ_PORT" == 5672 ]] \
        && command -v rabbitmq-server >/dev/null 2>&1; then
        _bs_log "RabbitMQ is not answering at $RABBITMQ_HOST:$RABBITMQ_PORT; starting the local server"
        _bs_out="$(mktemp)"
        if ! rabbitmq-server -detached >"$_bs_out" 2>&1; then
            cat "$_bs_out" >&2
        fi
        rm -f -- "$_bs_out"
        if ! _bs_wait_rabbit; then
            _bs_no_broker "'rabbitmq-server -detached' ran but nothing answered within $RABBITMQ_WAIT s (see /var/log/rabbitmq/)."
        fi
        _bs_log "RabbitMQ is up at $RABBITMQ_HOST:$RABBITMQ_PORT"
    else
        if [[ "$_bs_local" == 1 && "$RABBITMQ_PORT" == 5672 ]]; then
            _bs_why="rabbitmq-server is not installed here, so it cannot be started."
        else
            _bs_why="Not the local default (localhost:5672), so no server is started here."
        fi
        _bs_log "RabbitMQ is not answering at $RABBITMQ_HOST:$RABBITMQ_PORT; waiting up to $RABBITMQ_WAIT s"
        _bs_wait_rabbit || _bs_no_broker "$_bs_why"
    fi
fi
