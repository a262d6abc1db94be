// End-to-end client: speaks the clawsocket protocol (docs/protocol.md) to a `clawsocket serve`
// whose agent backend is a real OpenClaw gateway, and checks what comes back.
//
// Usage: node e2e-client.mjs --url ws://127.0.0.1:P/ws --step NAME [--model-log FILE]
// Steps (each runs on a fresh connection, protocol 2, sender "e2e" unless --sender is given):
//   turn       a message streams back (chat.stream) and ends with the model's reply (chat.response)
//   cancel     chat.cancel stops a slow reply: cancelled chat.response, and the model stream closed
//   history    chat.history returns the session with the earlier reply
//   drop       starts a slow reply and waits for the first stream frame, then for an error
//              (the caller kills the gateway in between; see --ready-file)
//   after      a new turn succeeds after the gateway came back (use a sender with no
//              interrupted run)
//   retry      the session whose run was cut: the restarted gateway resumes that run by itself
//              ("main-session restart recovery") and holds the session meanwhile, so a user
//              retries; every attempt must end with the model's reply or a clean chat.error
//              (never an empty reply), and one of a few attempts must succeed
// Exits non-zero with a message on the first failed expectation.
import fs from "node:fs";

const args = process.argv.slice(2);
const argValue = (name, fallback) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : fallback;
};
const url = argValue("--url");
const step = argValue("--step");
const modelLog = argValue("--model-log", "");
const readyFile = argValue("--ready-file", "");
const timeoutMs = Number(argValue("--timeout-ms", "180000"));
const sender = argValue("--sender", "e2e");
const RETRY_ATTEMPTS = 8;
const RETRY_PAUSE_MS = 10000;
const REPLY_PREFIX = "Fake model reply to: ";

function fail(message) {
  console.error(`E2E FAIL [${step}]: ${message}`);
  process.exit(1);
}
function expect(condition, message) {
  if (!condition) fail(message);
  console.log(`ok - ${step}: ${message}`);
}

/** One clawsocket connection that keeps every received frame and pings to stay alive. */
class ClawsocketConnection {
  constructor() {
    this.frames = [];
    this.listeners = new Set();
  }

  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(`${url}?senderId=${encodeURIComponent(sender)}&protocol=2`);
      this.ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)));
      this.ws.addEventListener("message", (event) => {
        const frame = JSON.parse(event.data);
        this.frames.push(frame);
        for (const listener of this.listeners) listener(frame);
        if (frame.type === "chat.ready") resolve(frame);
      });
      this.ws.addEventListener("close", (event) => {
        this.closed = true;
        for (const listener of this.listeners) listener({ type: "closed", code: event.code });
      });
      // The server closes protocol 2 connections that stay silent for two heartbeats.
      this.pinger = setInterval(() => this.send({ type: "ping" }), 10000);
    });
  }

  send(frame) {
    if (!this.closed) this.ws.send(JSON.stringify(frame));
  }

  /** The first frame (seen or future) matching `match`. */
  waitFor(match, what, waitMs = timeoutMs) {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const timer = setTimeout(() => fail(`timed out waiting for ${what}`), waitMs);
      const listener = (frame) => {
        if (frame.type === "closed") fail(`connection closed (${frame.code}) waiting for ${what}`);
        if (match(frame)) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          resolve(frame);
        }
      };
      this.listeners.add(listener);
    });
  }

  close() {
    clearInterval(this.pinger);
    this.ws.close();
  }
}

const forMessage = (messageId, type) => (frame) => frame.messageId === messageId && frame.type === type;
const endOf = (messageId) => (frame) =>
  frame.messageId === messageId && (frame.type === "chat.error" || (frame.type === "chat.response" && frame.done));
const unique = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** Sends one message and checks the streamed and final reply. */
async function runTurn(connection, label) {
  const messageId = `${label}-${unique()}`;
  const content = `hello ${messageId}`;
  connection.send({ type: "chat.send", content, messageId });
  const end = await connection.waitFor(endOf(messageId), `the reply to ${messageId}`);
  expect(end.type === "chat.response", `turn ${messageId} ends with chat.response (${JSON.stringify(end)})`);
  expect(end.content.startsWith(REPLY_PREFIX) && end.content.endsWith(content),
    `reply is the model's text: ${JSON.stringify(end.content)}`);
  const streamed = connection.frames.filter(forMessage(messageId, "chat.stream"));
  expect(streamed.length >= 1, `${streamed.length} chat.stream frames before the response`);
  expect(streamed.every((frame) => end.content.startsWith(frame.content)),
    "every (cumulative) stream frame is a prefix of the reply");
  return { messageId, reply: end.content };
}

async function stepRetry(connection) {
  for (let attempt = 1; attempt <= RETRY_ATTEMPTS; attempt++) {
    const messageId = `retry-${attempt}-${unique()}`;
    const content = `hello ${messageId}`;
    connection.send({ type: "chat.send", content, messageId });
    const end = await connection.waitFor(endOf(messageId), `the reply to ${messageId}`);
    if (end.type === "chat.response") {
      expect(end.content.startsWith(REPLY_PREFIX) && end.content.endsWith(content),
        `attempt ${attempt} got the model's reply: ${JSON.stringify(end.content)}`);
      return;
    }
    console.log(`   attempt ${attempt}: ${end.code}: ${end.error}`);
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
  fail(`no attempt out of ${RETRY_ATTEMPTS} got a reply`);
}

async function stepCancel(connection) {
  const messageId = `cancel-${unique()}`;
  connection.send({ type: "chat.send", content: `[slow] ${messageId}`, messageId });
  await connection.waitFor(
    (frame) => frame.messageId === messageId && frame.type === "chat.stream" && frame.content.includes("tick 3"),
    "the slow reply to stream");
  connection.send({ type: "chat.cancel", messageId });
  const end = await connection.waitFor(endOf(messageId), "the cancelled response");
  expect(end.type === "chat.response" && end.cancelled === true, `cancel ends the reply with cancelled:true (${JSON.stringify(end).slice(0, 200)})`);
  expect(end.content.startsWith("tick 1 tick 2 tick 3") && !end.content.includes("tick 300"),
    "the cancelled reply keeps the partial text");
  if (modelLog) {
    // The abort must reach the model: the gateway closes its streaming request early.
    const deadline = Date.now() + 30000;
    let aborted = false;
    while (!aborted && Date.now() < deadline) {
      aborted = fs.readFileSync(modelLog, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
        .some((entry) => entry.event === "stream-end" && entry.aborted && entry.chunksPlanned === 300);
      if (!aborted) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(aborted, "the model server saw its slow stream closed early");
  }
}

async function stepHistory(connection, sessionKey) {
  const { reply } = await runTurn(connection, "hist");
  connection.send({ type: "chat.history", id: "h1", sessionKey, limit: 20 });
  const page = await connection.waitFor(
    (frame) => (frame.type === "chat.history" && frame.id === "h1") || (frame.type === "chat.error" && !frame.messageId),
    "the history page");
  expect(page.type === "chat.history", `chat.history answered (${JSON.stringify(page).slice(0, 300)})`);
  expect(Array.isArray(page.messages) && page.messages.length >= 2, `history has ${page.messages.length} messages`);
  expect(page.messages.some((message) => message.role === "assistant" && message.content === reply),
    "history holds the assistant's reply");
  expect(page.messages.some((message) => message.role === "user"), "history holds the user's message");
}

async function stepDrop(connection) {
  const messageId = `drop-${unique()}`;
  connection.send({ type: "chat.send", content: `[slow] ${messageId}`, messageId });
  await connection.waitFor(
    (frame) => frame.messageId === messageId && frame.type === "chat.stream", "the slow reply to stream");
  // Tell the caller to stop the gateway now.
  fs.writeFileSync(readyFile, "streaming\n");
  const end = await connection.waitFor(endOf(messageId), "the end of the interrupted turn");
  expect(end.type === "chat.error", `a turn running when the gateway dropped ends with chat.error (${JSON.stringify(end).slice(0, 300)})`);
}

try {
  const connection = new ClawsocketConnection();
  const ready = await connection.open();
  switch (step) {
    case "retry":
      await stepRetry(connection);
      break;
    case "turn":
    case "after":
      await runTurn(connection, step);
      break;
    case "cancel":
      await stepCancel(connection);
      break;
    case "history":
      await stepHistory(connection, ready.sessionKey);
      break;
    case "drop":
      await stepDrop(connection);
      break;
    default:
      fail(`unknown step ${step}`);
  }
  connection.close();
  process.exit(0);
} catch (error) {
  fail(error.stack ?? String(error));
}
