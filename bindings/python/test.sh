#!/usr/bin/env bash
# Tests of the Python package (bindings/python). Installs what it needs into bindings/python/.venv,
# builds and installs the package exactly as `pip install ./bindings/python` does (a debug
# profile here, to keep CI fast), checks the hand-written stubs against the extension module,
# runs the pytest suite (shared vectors, asyncio host over real sockets, examples) and a short
# benchmark smoke run. Idempotent; runs from any directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
py="$venv/bin/python"

if [ ! -x "$py" ]; then
  python=$(command -v python3 || true)
  if [ -z "$python" ] || ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c "import ensurepip" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
    python=$(command -v python3)
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

pip() { "$py" -m pip --disable-pip-version-check -q "$@"; }
pip install "maturin>=1.9.4,<2" "pytest>=8" "websockets>=13" "mypy>=1.10"

# A stale editable build (maturin develop) would shadow the installed wheel.
rm -f "$here"/python/clawsocket/_core*.so
MATURIN_PEP517_ARGS="--profile dev" pip install --force-reinstall --no-deps "$here"

cd "$here"
echo "--- stubtest"
# From a directory without the venv below it, so mypy sees the installed package once.
(cd "$here/tests" && "$py" -m mypy.stubtest clawsocket._core && "$py" -m mypy.stubtest clawsocket)
echo "--- mypy (package, examples, benchmark)"
"$py" -m mypy python/clawsocket examples bench
echo "--- pytest"
"$py" -m pytest -q tests
echo "--- benchmark smoke run (debug build: the ratio is not representative)"
"$py" bench/bench.py --quick
