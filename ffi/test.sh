#!/usr/bin/env bash
# Tests of the C API (called by scripts/test.sh as `bash ffi/test.sh`; runs from any directory):
#  1. Rust unit tests, the header check (include/clawsocket.h == cbindgen output) and a short
#     smoke run of the overhead benchmark;
#  2. the documented build step (ffi/build.sh) and pkg-config linking, shared and static;
#  3. C tests compiled with the system cc, each run under valgrind (zero leaks, zero errors):
#     the shared vector runner over every file in tests/vectors/, the error and buffer-sizing
#     tests, and the example WebSocket server driven by a real client over 127.0.0.1.
set -euo pipefail
ffi=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$ffi")
cd "$root"

# Tools (CI starts from a fresh machine; we are root there).
missing=()
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "--- Rust tests and header check"
cargo test -p clawsocket-ffi --lib --test header
echo "--- benchmark smoke run (debug build; figures come from the release run in README.md)"
cargo test -p clawsocket-ffi --bench overhead -- 300

echo "--- build and pkg-config"
pcdir=$(bash "$ffi/build.sh" | tail -1)
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
out=$(dirname "$pcdir")/ffi-tests
mkdir -p "$out"
cflags=(-std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g)
# shellcheck disable=SC2046 # pkg-config output is meant to be split
{
  cc "${cflags[@]}" "$ffi/tests/vectors.c" "$ffi/tests/json.c" $(pkg-config --cflags --libs clawsocket) -o "$out/vectors"
  cc "${cflags[@]}" "$ffi/tests/errors.c" $(pkg-config --cflags --libs clawsocket) -lpthread -o "$out/errors"
  cc "${cflags[@]}" "$ffi/tests/errors.c" $(pkg-config --cflags --libs clawsocket-static) -o "$out/errors-static"
  cc "${cflags[@]}" "$ffi/examples/chat_server.c" $(pkg-config --cflags --libs clawsocket) -o "$out/chat_server"
}
if command -v c++ >/dev/null; then
  printf '#include "clawsocket.h"\nint main(void) { return clawsocket_result_name(0) == nullptr; }\n' >"$out/cpp_check.cpp"
  # shellcheck disable=SC2046
  c++ -std=c++11 -Wall -Werror "$out/cpp_check.cpp" $(pkg-config --cflags --libs clawsocket) -o "$out/cpp_check"
  "$out/cpp_check"
  echo "header compiles as C++"
fi

vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible)

echo "--- vector runner (C API, every file in tests/vectors/)"
"${vg[@]}" "$out/vectors" "$root/tests/vectors"

echo "--- the runner notices a wrong expectation"
tampered=$(mktemp -d)
trap 'rm -rf "$tampered"' EXIT
sed 's/"content": "Hi John!"/"content": "Hi Jon!"/' "$root/tests/vectors/seed-quickstart-basic.json" >"$tampered/tampered.json"
if "$out/vectors" "$tampered" >/dev/null 2>&1; then
  echo "the vector runner accepted a tampered expectation" >&2
  exit 1
fi
echo "tampered vector rejected"

echo "--- error and buffer-sizing tests (shared and static library)"
"${vg[@]}" "$out/errors"
"$out/errors-static"

echo "--- example: C WebSocket server on 127.0.0.1 and a Python stdlib client"
log="$tampered/server.log"
"${vg[@]}" "$out/chat_server" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" && break
  sleep 0.1
done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
if [ -z "$port" ]; then
  cat "$log" >&2
  kill "$server_pid" 2>/dev/null || true
  exit 1
fi
client_status=0
python3 "$ffi/examples/chat_client.py" "$port" || client_status=$?
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
cat "$log"
if [ "$client_status" -ne 0 ] || [ "$server_status" -ne 0 ] || ! grep -q "^stopped" "$log"; then
  echo "example failed: client $client_status, server $server_status" >&2
  exit 1
fi
echo "ffi: all tests passed"
