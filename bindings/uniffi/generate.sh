#!/usr/bin/env bash
# Regenerates the Kotlin and Swift bindings from the compiled library (uniffi library mode).
#
#   bash bindings/uniffi/generate.sh            # rewrite bindings/uniffi/generated/
#   bash bindings/uniffi/generate.sh OUT_DIR    # write OUT_DIR/{kotlin,swift} instead
#
# Builds the debug cdylib and the in-crate `uniffi-bindgen` (feature `cli`) first, so the
# generator's uniffi version is always the library's. Output is unformatted (--no-format) so
# it does not depend on ktlint or swiftformat being installed, and is byte-for-byte
# reproducible: test.sh regenerates into a temporary directory and diffs it with the copy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/generated}"
target="${CARGO_TARGET_DIR:-$root/target}"

cd "$root"
cargo build --quiet -p clawsocket-uniffi --features cli

library="$target/debug/libclawsocket_uniffi.so"
[[ "$(uname -s)" == Darwin ]] && library="$target/debug/libclawsocket_uniffi.dylib"
bindgen="$target/debug/uniffi-bindgen"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for language in kotlin swift; do
    "$bindgen" generate "$library" --language "$language" --no-format --metadata-no-deps \
        --out-dir "$scratch/$language" >/dev/null
done

# Swap in the new tree only once both languages generated.
mkdir -p "$out"
rm -rf "$out/kotlin" "$out/swift"
mv "$scratch/kotlin" "$scratch/swift" "$out/"
echo "generated: $(cd "$out" && find kotlin swift -type f | sort | tr '\n' ' ')"
