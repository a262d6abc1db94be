#!/usr/bin/env bash
# Runs every test of every language in the repository. Works on a fresh machine: each part
# installs what it needs (Rust components, pip/npm/Maven packages, Debian packages).
#
#   ./scripts/test.sh            everything
#   ./scripts/test.sh rust ffi   only the named parts (rust nostd ffi python node uniffi web openclaw)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TERM_COLOR=never

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(rust nostd ffi python node uniffi web openclaw)
want() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

failed=()
passed=()
run_part() {
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then
    passed+=("$name")
    echo "=== $name: ok ($((SECONDS - start)) s)"
  else
    failed+=("$name")
    echo "=== $name: FAILED ($((SECONDS - start)) s)"
  fi
}

rust_checks() {
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
  cargo fmt --all -- --check &&
    cargo clippy --workspace --all-targets -- -D warnings &&
    cargo test
}

if want rust; then run_part rust rust_checks; fi
if want nostd; then run_part nostd tests/no_std/run.sh; fi
for part in ffi python node uniffi web openclaw; do
  case $part in
    ffi) script=ffi/test.sh ;;
    python) script=bindings/python/test.sh ;;
    node) script=bindings/node/test.sh ;;
    uniffi) script=bindings/uniffi/test.sh ;;
    web) script=server/web/test.sh ;;
    openclaw) script=tests/openclaw/test.sh ;;
  esac
  if want "$part" && [ -f "$root/$script" ]; then run_part "$part" bash "$root/$script"; fi
done

echo
echo "parts passed: ${passed[*]:-none}"
echo "parts failed: ${failed[*]:-none}"
echo "${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
