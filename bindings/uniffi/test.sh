#!/usr/bin/env bash
# Tests of the Kotlin/Swift bindings (bindings/uniffi). Run from anywhere:
#   bash bindings/uniffi/test.sh
# 1. builds the debug cdylib and uniffi-bindgen, regenerates the Kotlin and Swift sources into a
#    temporary directory and fails if they differ from the committed bindings/uniffi/generated/;
#    checks the Swift C header compiles and that the library exports all it declares;
# 2. compiles the generated Kotlin plus the JUnit suite with Maven and runs it on this JVM:
#    every tests/vectors/*.json file byte for byte, real WebSocket sessions on 127.0.0.1 with
#    both ends on the core (plus the Rust server when target/debug/clawsocket is built), error
#    codes, defaults and thread safety.
# Installs a JDK and Maven from Debian when missing; Maven artifacts are cached in ~/.m2.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

if ! command -v javac >/dev/null || ! command -v mvn >/dev/null; then
    echo "uniffi: installing a JDK and Maven"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
fi

echo "uniffi: building the library and checking the committed bindings"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
bash "$here/generate.sh" "$fresh" >/dev/null
if ! diff -ru "$here/generated" "$fresh"; then
    echo "uniffi: generated bindings differ from bindings/uniffi/generated/;" \
        "run 'bash bindings/uniffi/generate.sh' and commit the result" >&2
    exit 1
fi
echo "uniffi: committed Kotlin and Swift bindings are up to date"

# No Swift toolchain here: check what Swift imports from the library instead. The C header
# must compile (the clang-only nullability marks are defined away for gcc) and every function
# it declares must be exported by the library.
header="$here/generated/swift/clawsocketFFI.h"
library="$target/debug/libclawsocket_uniffi.so"
printf '#include "clawsocketFFI.h"\n' >"$fresh/header.c"
cc -std=c11 -Wall -Werror -D_Nullable= -D_Nonnull= -fsyntax-only -I "$(dirname "$header")" "$fresh/header.c"
declared="$(grep -o '\b\(uniffi\|ffi\)_clawsocket_uniffi_[a-z0-9_]*' "$header" | sort -u)"
missing="$(comm -23 <(echo "$declared") <(nm -D --defined-only "$library" | awk '{print $3}' | sort -u))"
if [[ -n "$missing" ]]; then
    echo "uniffi: the library does not export what the Swift header declares:" $missing >&2
    exit 1
fi
echo "uniffi: Swift C header compiles; all $(wc -l <<<"$declared") functions it declares are exported"

echo "uniffi: compiling and running the Kotlin tests (Maven)"
reports="$here/kotlin/target/surefire-reports"
rm -rf "$reports"
status=0
# A reference server built by the server's own tests is used too, when there is one.
server_binary=""
[[ -x "$target/debug/clawsocket" ]] && server_binary="$target/debug/clawsocket"
(cd "$here/kotlin" && timeout 1500 mvn -B -q -Dstyle.color=never test \
    -Djna.library.path="$target/debug" \
    -Dclawsocket.vectors="$root/tests/vectors" \
    -Dclawsocket.server="$server_binary") || status=$?

# Surefire is quiet under -q: sum its reports into one closing line.
total=0 failed=0 skipped=0
for report in "$reports"/TEST-*.xml; do
    [[ -f "$report" ]] || continue
    header="$(grep -m1 -o '<testsuite [^>]*>' "$report")"
    attr() { sed -n "s/.* $1=\"\\([0-9]*\\)\".*/\\1/p" <<<"$header"; }
    total=$((total + $(attr tests)))
    failed=$((failed + $(attr failures) + $(attr errors)))
    skipped=$((skipped + $(attr skipped)))
done
echo "kotlin: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
if [[ $status -ne 0 || $failed -ne 0 || $total -eq 0 ]]; then
    echo "uniffi: Kotlin tests failed" >&2
    exit 1
fi
