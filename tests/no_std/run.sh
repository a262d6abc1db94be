#!/usr/bin/env bash
# Builds and runs the freestanding no_std check (see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/../../target}/no_std"
cargo build --release --locked 2>&1 | tail -n 3
# Nothing of std may be linked in: its symbols would show up in the binary.
if nm -C "$CARGO_TARGET_DIR/release/clawsocket-nostd-check" | grep -q 'std::'; then
  echo "no_std check: std symbols found in the binary"; exit 1
fi
"$CARGO_TARGET_DIR/release/clawsocket-nostd-check"
