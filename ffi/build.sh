#!/usr/bin/env bash
# Builds the C API (libclawsocket_ffi.a and .so) and writes pkg-config files beside them.
#
#   bash ffi/build.sh [--release]
#   export PKG_CONFIG_PATH=<the directory it prints>
#   cc host.c $(pkg-config --cflags --libs clawsocket)          # shared library (rpath set)
#   cc host.c $(pkg-config --cflags --libs clawsocket-static)   # static library
#
# Prints the pkg-config directory on its last line. Honours CARGO_TARGET_DIR.
set -euo pipefail
ffi=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$ffi")
cd "$root"

profile=debug
flags=()
if [ "${1:-}" = "--release" ]; then
  profile=release
  flags=(--release)
fi
cargo build -p clawsocket-ffi ${flags[@]+"${flags[@]}"} >&2

target=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | head -1 | cut -d'"' -f4)
libdir="$target/$profile"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
case "$(uname -s)" in
  Darwin) native="-framework CoreFoundation -liconv -lSystem -lc -lm" ;;
  *) native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc" ;;
esac

mkdir -p "$libdir/pkgconfig"
for name in clawsocket clawsocket-static; do
  sed -e "s|@LIBDIR@|$libdir|" -e "s|@INCLUDEDIR@|$ffi/include|" -e "s|@VERSION@|$version|" \
    -e "s|@NATIVE_LIBS@|$native|" "$ffi/$name.pc.in" >"$libdir/pkgconfig/$name.pc"
done
echo "$libdir/pkgconfig"
