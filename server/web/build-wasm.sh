#!/usr/bin/env bash
# Builds the browser page's WebAssembly client (bindings/wasm) into server/web/clawsocket.wasm,
# the file the server embeds. Run it after changing bindings/wasm or core/, then commit the .wasm.
#
#   server/web/build-wasm.sh            build and replace server/web/clawsocket.wasm
#   server/web/build-wasm.sh OUT.wasm   build into another file (the drift check in test.sh)
#
# Reproducible: its own target dir, size settings passed through the environment (so the
# workspace's release profile stays as it is for every other crate), and source paths remapped
# so the bytes do not depend on where the repository or the cargo home lives.
set -euo pipefail
web=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$web/../.." && pwd)
out=${1:-$web/clawsocket.wasm}
target=wasm32-unknown-unknown

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target"
fi

cargo_home=${CARGO_HOME:-$HOME/.cargo}
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=abort
export CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_PROFILE_RELEASE_STRIP=true
export CARGO_PROFILE_RELEASE_INCREMENTAL=false
export RUSTFLAGS="--remap-path-prefix=$root=/clawsocket --remap-path-prefix=$cargo_home=/cargo"
unset CARGO_ENCODED_RUSTFLAGS RUSTC_WRAPPER
export SOURCE_DATE_EPOCH=0

cargo build --manifest-path "$root/Cargo.toml" --release --target "$target" \
  -p clawsocket-wasm --target-dir "$root/target/wasm-web"

cp "$root/target/wasm-web/$target/release/clawsocket_wasm.wasm" "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
