#!/usr/bin/env bash
# End-to-end tests of the browser chat page in headless Chromium, plus the .wasm drift check.
# Installs what it needs (Debian's chromium, playwright-core from npm into server/web/node_modules),
# builds the server (debug, shared target dir), starts it on 127.0.0.1 with a test token and
# drives the page (server/web/e2e.mjs). Writes docs/screenshots/chat.png.
set -euo pipefail
web=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$web/../.." && pwd)
cd "$root"

# 1. The committed module must be what build-wasm.sh makes from the current sources.
rebuilt=$(mktemp --suffix=.wasm)
trap 'rm -f "$rebuilt"' EXIT
"$web/build-wasm.sh" "$rebuilt" >/dev/null
if ! cmp -s "$rebuilt" "$web/clawsocket.wasm"; then
  echo "server/web/clawsocket.wasm is out of date with bindings/wasm and core/ ($(wc -c <"$web/clawsocket.wasm") committed, $(wc -c <"$rebuilt") rebuilt bytes; $(rustc --version))." >&2
  echo "Run server/web/build-wasm.sh and commit server/web/clawsocket.wasm." >&2
  exit 1
fi
echo "web: clawsocket.wasm matches its sources ($(wc -c <"$web/clawsocket.wasm") bytes)"

# 2. The wasm crate's own unit tests (host target).
cargo test --quiet -p clawsocket-wasm

# 3. Browser and driver.
if ! [ -x /usr/bin/chromium ]; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
if ! command -v node >/dev/null 2>&1; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
fi
# Reinstalled only when the committed lock changed since the last install.
if ! cmp -s "$web/package-lock.json" "$web/node_modules/.installed-lock.json" 2>/dev/null; then
  (cd "$web" && npm ci --ignore-scripts --no-audit --no-fund)
  cp "$web/package-lock.json" "$web/node_modules/.installed-lock.json"
fi

# 4. The server, then the browser run.
cargo build --quiet -p clawsocket-server --bin clawsocket
bin="${CARGO_TARGET_DIR:-$root/target}/debug/clawsocket"
CLAWSOCKET_BIN="$bin" node "$web/e2e.mjs"
