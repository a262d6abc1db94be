// Probe of a real OpenClaw gateway: speaks its WebSocket protocol directly (no clawsocket) and
// asserts the facts the clawsocket `openclaw` backend relies on. Every frame is appended to a
// JSONL log (tokens redacted) so the findings can be checked against the real thing.
//
// Usage: node gateway-probe.mjs --url ws://127.0.0.1:P --token T --key-file F [--log FILE]
//        [--session KEY] [--only connect] [--no-tick]
//        node gateway-probe.mjs --url ... --token T --key-file F --wait-ready SECONDS
// --wait-ready only retries a handshake until the gateway accepts it (it refuses connects with
// UNAVAILABLE while its sidecars start). Exits non-zero on the first failed expectation.
import crypto from "node:crypto";
import fs from "node:fs";

const args = process.argv.slice(2);
const argValue = (name, fallback) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : fallback;
};
const url = argValue("--url");
const token = argValue("--token") ?? process.env.OPENCLAW_GATEWAY_TOKEN;
const keyFile = argValue("--key-file");
const logFile = argValue("--log", "");
const sessionKey = argValue("--session", "agent:main:websocket:direct:probe");
const only = argValue("--only", "all");
const waitReadySeconds = Number(argValue("--wait-ready", "0"));
const checkTick = !args.includes("--no-tick");
if (!url || !token || !keyFile) {
  console.error("usage: gateway-probe.mjs --url URL --token T --key-file FILE [--log FILE]");
  process.exit(2);
}

const CLIENT = { id: "gateway-client", mode: "backend", version: "0.1.0", platform: "linux" };
const SCOPES = ["operator.read", "operator.write"];

function fail(message) {
  console.error(`PROBE FAIL: ${message}`);
  process.exit(1);
}
function expect(condition, message) {
  if (!condition) fail(message);
  console.log(`ok - ${message}`);
}

function redact(text) {
  return text.split(token).join("<TOKEN>");
}
function record(direction, label, frame) {
  if (!logFile) return;
  const line = JSON.stringify({ at: new Date().toISOString(), direction, label, frame });
  fs.appendFileSync(logFile, redact(line) + "\n");
}

/** Loads the Ed25519 device key from keyFile, creating it on first use. */
function loadDevice() {
  if (!fs.existsSync(keyFile)) {
    const { privateKey } = crypto.generateKeyPairSync("ed25519");
    const pem = privateKey.export({ type: "pkcs8", format: "pem" });
    fs.writeFileSync(keyFile, JSON.stringify({ privateKeyPem: pem }), { mode: 0o600 });
  }
  const { privateKeyPem, deviceToken } = JSON.parse(fs.readFileSync(keyFile, "utf8"));
  const privateKey = crypto.createPrivateKey(privateKeyPem);
  const rawPublicKey = Buffer.from(crypto.createPublicKey(privateKey).export({ format: "jwk" }).x, "base64url");
  const id = crypto.createHash("sha256").update(rawPublicKey).digest("hex");
  return { privateKey, publicKey: rawPublicKey.toString("base64url"), id, deviceToken };
}

function saveDeviceToken(deviceToken) {
  const stored = JSON.parse(fs.readFileSync(keyFile, "utf8"));
  stored.deviceToken = deviceToken;
  fs.writeFileSync(keyFile, JSON.stringify(stored), { mode: 0o600 });
}

function signedString(device, nonce, signedAt, authToken) {
  return ["v3", device.id, CLIENT.id, CLIENT.mode, "operator", SCOPES.join(","), String(signedAt),
    authToken, nonce, CLIENT.platform.trim().toLowerCase(), ""].join("|");
}

/** One gateway connection: request/response by id, events to listeners. */
class GatewayConnection {
  constructor(label) {
    this.label = label;
    this.pending = new Map();
    this.listeners = new Set();
    this.events = [];
    this.nextId = 1;
    this.closed = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(url);
      this.ws.addEventListener("error", () => reject(new Error("websocket error")));
      this.ws.addEventListener("close", (event) => {
        this.closed = { code: event.code, reason: event.reason };
        record("in", this.label, { closed: this.closed });
        for (const { reject: rejectPending } of this.pending.values()) rejectPending(new Error("closed"));
        for (const listener of this.listeners) listener(null);
      });
      this.ws.addEventListener("message", (event) => {
        const frame = JSON.parse(event.data);
        record("in", this.label, frame);
        if (frame.type === "res" && this.pending.has(frame.id)) {
          this.pending.get(frame.id).resolve(frame);
          this.pending.delete(frame.id);
        } else if (frame.type === "event") {
          this.events.push(frame);
          for (const listener of this.listeners) listener(frame);
        }
      });
      this.ws.addEventListener("open", () => resolve());
    });
  }

  request(method, params) {
    const id = `probe-${this.nextId++}`;
    const frame = { type: "req", id, method, params };
    record("out", this.label, frame);
    this.ws.send(JSON.stringify(frame));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      setTimeout(() => reject(new Error(`${method} timed out`)), 30000).unref();
    });
  }

  /** Resolves with the first event (already seen or future) matching `match`. */
  waitEvent(match, timeoutMs, what) {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const listener = (frame) => {
        if (frame === null) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          reject(new Error(`connection closed waiting for ${what}`));
        } else if (match(frame)) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          resolve(frame);
        }
      };
      this.listeners.add(listener);
    });
  }

  close() {
    this.ws.close();
  }
}

/** Opens a connection and completes the handshake; `tamper` spoils the signature. */
async function connect(label, { tamper = false, protocol = [4, 4], withDevice = true } = {}) {
  const connection = new GatewayConnection(label);
  await connection.open();
  const challenge = await connection.waitEvent((frame) => frame.event === "connect.challenge", 10000, "connect.challenge");
  const { nonce, ts } = challenge.payload;
  const device = loadDevice();
  const params = {
    minProtocol: protocol[0],
    maxProtocol: protocol[1],
    client: CLIENT,
    role: "operator",
    scopes: SCOPES,
    caps: ["tool-events"],
    auth: { token },
  };
  if (withDevice) {
    const signed = signedString(device, nonce, ts, token) + (tamper ? "x" : "");
    params.device = {
      id: device.id,
      publicKey: device.publicKey,
      signature: crypto.sign(null, Buffer.from(signed), device.privateKey).toString("base64url"),
      signedAt: ts,
      nonce,
    };
  }
  const response = await connection.request("connect", params);
  return { connection, challenge, response, device };
}

const textOf = (message) =>
  (message?.content ?? []).filter((part) => part.type === "text").map((part) => part.text).join("");

async function probeHandshake() {
  const bad = await connect("bad-signature", { tamper: true });
  expect(bad.response.ok === false, "a spoiled device signature is refused");
  console.log(`   refusal: ${JSON.stringify(bad.response.error)}`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  bad.connection.close();

  const noDevice = await connect("no-device", { withDevice: false });
  console.log(`   without device: ok=${noDevice.response.ok} ${JSON.stringify(noDevice.response.error ?? noDevice.response.payload?.auth)}`);
  noDevice.connection.close();

  const v3 = await connect("protocol-3-only", { protocol: [3, 3] });
  console.log(`   protocol 3 only: ok=${v3.response.ok} ${JSON.stringify(v3.response.error ?? { protocol: v3.response.payload?.protocol })}`);
  v3.connection.close();

  const good = await connect("main");
  expect(good.challenge.payload.nonce && typeof good.challenge.payload.ts === "number", "challenge carries nonce and ts");
  expect(good.response.ok === true, `handshake accepted (${JSON.stringify(good.response.error ?? "")})`);
  const hello = good.response.payload;
  expect(hello.type === "hello-ok" && hello.protocol === 4, "hello-ok with protocol 4");
  expect(typeof hello.server?.version === "string", `gateway version ${hello.server?.version}`);
  expect(typeof hello.policy?.tickIntervalMs === "number", `tick interval ${hello.policy?.tickIntervalMs} ms`);
  expect(hello.auth?.scopes?.includes("operator.write"), `granted scopes ${JSON.stringify(hello.auth?.scopes)}`);
  if (hello.auth?.deviceToken) saveDeviceToken(hello.auth.deviceToken);
  return good.connection;
}

async function probeTurns(connection) {
  const marker = `probe-${Date.now()}`;
  const sent = await connection.request("chat.send", {
    sessionKey,
    message: `hello ${marker}`,
    idempotencyKey: `${marker}-1`,
  });
  expect(sent.ok && typeof sent.payload.runId === "string", `chat.send answers with a runId (${JSON.stringify(sent.payload ?? sent.error)})`);
  const runId = sent.payload.runId;
  const final = await connection.waitEvent(
    (frame) => frame.event === "chat" && frame.payload.runId === runId && ["final", "error", "aborted"].includes(frame.payload.state),
    60000, "the final chat event");
  expect(final.payload.state === "final", `turn ends with state final (${final.payload.state} ${final.payload.errorMessage ?? ""})`);
  expect(textOf(final.payload.message) === `Fake model reply to: hello ${marker}`, `final text is the model's reply: ${textOf(final.payload.message)}`);
  const deltas = connection.events.filter((frame) => frame.event === "chat" && frame.payload.runId === runId && frame.payload.state === "delta");
  console.log(`   ${deltas.length} delta events before final`);

  const repeated = await connection.request("chat.send", { sessionKey, message: `hello ${marker}`, idempotencyKey: `${marker}-1` });
  console.log(`   repeated idempotencyKey: ${JSON.stringify(repeated.payload ?? repeated.error)}`);

  const slow = await connection.request("chat.send", { sessionKey, message: `[slow] ${marker}`, idempotencyKey: `${marker}-2` });
  expect(slow.ok, "slow chat.send accepted");
  const slowRun = slow.payload.runId;
  await connection.waitEvent(
    (frame) => frame.event === "chat" && frame.payload.runId === slowRun && frame.payload.state === "delta" && textOf(frame.payload.message).includes("tick 3"),
    60000, "slow deltas");
  const aborted = await connection.request("chat.abort", { sessionKey, runId: slowRun });
  expect(aborted.ok, `chat.abort accepted (${JSON.stringify(aborted.payload ?? aborted.error)})`);
  const abortedEnd = await connection.waitEvent(
    (frame) => frame.event === "chat" && frame.payload.runId === slowRun && ["final", "error", "aborted"].includes(frame.payload.state),
    30000, "the aborted chat event");
  expect(abortedEnd.payload.state === "aborted", `slow turn ends with state aborted (${abortedEnd.payload.state})`);

  const history = await connection.request("chat.history", { sessionKey, limit: 50 });
  expect(history.ok && Array.isArray(history.payload.messages), "chat.history returns messages");
  const historyText = JSON.stringify(history.payload.messages);
  expect(historyText.includes(`Fake model reply to: hello ${marker}`), "history holds the model's reply");
}

async function probeTick(connection) {
  const tick = await connection.waitEvent((frame) => frame.event === "tick", 40000, "a tick event");
  console.log(`   tick payload: ${JSON.stringify(tick.payload)}`);
  expect(true, "tick event received");
}

/** Retries the handshake until the gateway accepts it or the time is up. */
async function waitReady() {
  const deadline = Date.now() + waitReadySeconds * 1000;
  let last = "no attempt";
  while (Date.now() < deadline) {
    try {
      const { connection, response } = await connect("wait-ready");
      connection.close();
      if (response.ok) {
        console.log(`gateway ready: OpenClaw ${response.payload.server?.version} protocol ${response.payload.protocol}`);
        process.exit(0);
      }
      last = JSON.stringify(response.error);
      if (!response.error?.retryable) fail(`gateway refused the handshake: ${last}`);
    } catch (error) {
      last = error.message;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  fail(`gateway not ready after ${waitReadySeconds} s (last: ${last})`);
}

if (waitReadySeconds > 0) await waitReady();

try {
  const connection = await probeHandshake();
  if (only !== "connect") {
    await probeTurns(connection);
    if (checkTick) await probeTick(connection);
  }
  connection.close();
  console.log("PROBE OK");
  process.exit(0);
} catch (error) {
  fail(error.message);
}
