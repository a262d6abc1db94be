#!/usr/bin/env bash
# Tests of the Node package (bindings/node): installs the npm dependencies, builds the native
# module from the Rust sources, runs `node --test` (shared vectors, the ws host over real
# sockets, the client, the examples, the TypeScript check, the index.d.ts drift check), checks
# `npm install <path>` from another project, and runs a short benchmark (figures only).
# Idempotent: a second run reuses node_modules and the cargo build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    [ "$(node -p 'Number(process.versions.node.split(".")[0])')" -ge 20 ]
}
if ! node_ok; then
  apt-get update && apt-get install -y nodejs npm
fi
node_ok || { echo "bindings/node: Node.js 20+ with npm is required" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 || { echo "bindings/node: cargo (Rust toolchain) is required" >&2; exit 1; }
echo "node $(node --version), npm $(npm --version)"

# npm dependencies from the committed lock; reinstalled only when the lock changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund
fi

# The native module and the generated declarations (.build/index.d.ts, compared by the tests).
node scripts/build.mjs

node --test test/

# `npm install <path>` from another project runs the install script and the package loads
# from CommonJS and ESM there.
consumer="$(mktemp -d)"
trap 'rm -rf "$consumer"' EXIT
rm -f clawsocket.node
(
  cd "$consumer"
  npm init -y >/dev/null
  npm install --no-audit --no-fund --foreground-scripts "$here" >/dev/null
  [ -f "$here/clawsocket.node" ] || { echo "npm install <path> did not run the build script" >&2; exit 1; }
  node -e "const c = require('clawsocket'); if (typeof c.serve !== 'function' || !new c.Server()) process.exit(1)"
  node --input-type=module -e "import { Server, connect } from 'clawsocket'; if (typeof connect !== 'function') process.exit(1); new Server();"
)
echo "npm install <path>: ok"

node bench/run.mjs --quick
