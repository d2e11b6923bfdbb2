# Shared by run_app.sh and run_tests.sh (sourced, not run): finds Python 3.11+, creates .venv,
# and installs the package into it when pyproject.toml changed since the last install.
# Usage: . scripts/venv.sh; ensure_installed "" ""   or   ensure_installed "[dev]" "-dev"

VENV=.venv

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    if ! PY="$(find_python)"; then
        echo "error: Python 3.11 or newer is required but was not found." >&2
        echo "       Install it (e.g. 'sudo apt install python3 python3-venv', 'brew install python@3.12'," >&2
        echo "       or https://www.python.org/downloads/), or set PYTHON=/path/to/python3.11 and rerun." >&2
        exit 1
    fi
    echo "Creating $VENV with $PY ($("$PY" --version 2>&1))..."
    if ! "$PY" -m venv "$VENV"; then
        echo "error: could not create $VENV. On Debian/Ubuntu install the venv module: sudo apt install python3-venv" >&2
        rm -rf "$VENV"
        exit 1
    fi
fi

if ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "error: $VENV uses $("$VENV/bin/python" --version 2>&1); Python 3.11 or newer is required." >&2
    echo "       Delete $VENV and rerun this script." >&2
    exit 1
fi

ensure_installed() {
    local extra="$1" stamp="$VENV/.install-stamp$2" want have
    want="$("$VENV/bin/python" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [ "$want" != "$have" ] || [ ! -x "$VENV/bin/provider-proxy" ]; then
        echo "Installing claude-code-provider-proxy$extra into $VENV..."
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e ".$extra"
        echo "$want" >"$stamp"
    fi
}
