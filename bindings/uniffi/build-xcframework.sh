#!/usr/bin/env bash
# Builds ClawSocketFFI.xcframework (next to Package.swift) for iOS devices, the iOS simulator
# and macOS. Needs a Mac with Xcode and rustup; not run on the Linux CI.
#   bash bindings/uniffi/build-xcframework.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
profile="${PROFILE:-release}"

triples=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${triples[@]}"
cd "$root"
for triple in "${triples[@]}"; do
    # The crate is a cdylib for JNA; iOS links a static archive, asked for here only.
    cargo rustc -p clawsocket-uniffi --lib --profile "$profile" --target "$triple" --crate-type staticlib
done

lib() { echo "$target_dir/$1/$profile/libclawsocket_uniffi.a"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/headers" "$work/ios-sim" "$work/macos"
cp "$here/generated/swift/clawsocketFFI.h" "$work/headers/"
cp "$here/generated/swift/clawsocketFFI.modulemap" "$work/headers/module.modulemap"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-sim/libclawsocket_uniffi.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libclawsocket_uniffi.a"

rm -rf "$here/ClawSocketFFI.xcframework"
xcodebuild -create-xcframework \
    -library "$(lib aarch64-apple-ios)" -headers "$work/headers" \
    -library "$work/ios-sim/libclawsocket_uniffi.a" -headers "$work/headers" \
    -library "$work/macos/libclawsocket_uniffi.a" -headers "$work/headers" \
    -output "$here/ClawSocketFFI.xcframework"
echo "built $here/ClawSocketFFI.xcframework"
