# Sourced by demo.sh and test.sh: make .venv and install the project (with an optional extra) once.
# Idempotent: a stamp holding the hash of pyproject.toml and the extra skips pip when nothing changed.
# Usage: source scripts/venv.sh [extra]
set -euo pipefail
extra="${1:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    # Debian splits venv out of python3; install it once (needs root, as on CI and fresh machines).
    rm -rf "$venv"
    echo "setup: installing python3-venv with apt" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  fi
fi

stamp="$venv/.launcher-installed"
want="$( (cat "$root/pyproject.toml"; echo "extra=$extra") | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing launcher${extra:+[$extra]} into .venv (first run takes a few minutes)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e "$root${extra:+[$extra]}"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
