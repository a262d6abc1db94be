// End-to-end tests of the chat page: the real server binary, the real page, headless Chromium.
// Run by test.sh (which installs Chromium and playwright-core and builds the server).
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const screenshot = join(root, "docs", "screenshots", "chat.png");
const TOKEN = "web-test-token-0123456789";
const CHUNK = "tick ";
const CHUNKS = 20;
const FULL_REPLY = CHUNK.repeat(CHUNKS);
const MAX_CONTENT = 300;
const WAIT = 20_000;

// --- the server -----------------------------------------------------------------------------

async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), "clawsocket-web-"));
  const config = {
    channels: {
      websocket: {
        limits: { maxContentChars: MAX_CONTENT },
        agent: { backend: "stub", stub: { chunks: CHUNKS, text: CHUNK, delayMs: 150 } },
      },
    },
  };
  writeFileSync(join(dataDir, "config.json"), JSON.stringify(config));
  const env = { ...process.env, CLAWSOCKET_TOKEN: TOKEN, RUST_LOG: "warn" };
  delete env.WS_AUTH_ENABLED;
  delete env.WS_AUTH_ENDPOINT;
  const child = spawn(
    process.env.CLAWSOCKET_BIN,
    ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--config", join(dataDir, "config.json")],
    { env, stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout });
  const address = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited early (${code})`)));
    lines.on("line", (line) => {
      const m = line.match(/^clawsocket: listening on (\S+)/);
      if (m) resolve(m[1]);
    });
  });
  return { base: `http://${address}`, stop: () => { child.kill("SIGTERM"); rmSync(dataDir, { recursive: true, force: true }); } };
}

// --- helpers --------------------------------------------------------------------------------

// Records every WebSocket the page opens, so a test can drop one like a network failure would.
function recordSockets() {
  window.__sockets = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
  };
}

async function openPage(context, base, query, frames) {
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("websocket", (ws) => ws.on("framesent", (f) => frames?.push(String(f.payload))));
  await page.addInitScript(recordSockets);
  await page.goto(`${base}/${query}`);
  return page;
}

// Page errors, console errors (CSP violations show there) and external requests, checked at the end.
const problems = [];

const lastOut = (page) => page.locator("ol.messages:not([hidden]) li.msg.out").last();
const replyTo = (page, id) => page.locator(`li.msg.in[data-id="${id}"]`);

async function sendText(page, text) {
  await page.locator("#message").fill(text);
  await page.locator("#message").press("Enter");
  const id = await lastOut(page).getAttribute("data-id");
  assert.ok(id, "the sent message shows with its id");
  return id;
}

async function waitReady(page) {
  await page.waitForSelector('#status[data-state="ready"]', { timeout: WAIT });
}

async function replyText(page, id) {
  return (await replyTo(page, id).locator(".text").textContent()) ?? "";
}

// --- the cases ------------------------------------------------------------------------------

async function streamedReply(page, frames) {
  await page.locator("#sender-name").fill("Ada");
  await page.locator("#identity button[type=submit]").click();
  await waitReady(page);
  assert.ok(!page.url().includes("token="), "the token is taken out of the address bar");
  assert.match(await page.locator("#status").textContent(), /Connected as web-/);

  const id = await sendText(page, "Hello from the browser");
  const sent = frames.map((f) => JSON.parse(f)).find((f) => f.type === "chat.send" && f.messageId === id);
  assert.equal(sent.content, "Hello from the browser");
  assert.equal(sent.senderName, undefined, "the name travels on the URL, not per message");
  await page.waitForSelector(`li.msg.in[data-id="${id}"][data-state="streaming"]`, { timeout: WAIT });
  const early = await replyText(page, id);
  await page.waitForFunction(
    ([sel, len]) => (document.querySelector(sel)?.querySelector(".text").textContent.length ?? 0) > len,
    [`li.msg.in[data-id="${id}"]`, early.length],
    { timeout: WAIT },
  );
  assert.equal(await page.locator("#cancel").isVisible(), true, "Stop shows while a reply runs");
  await page.waitForSelector(`li.msg.in[data-id="${id}"][data-state="done"]`, { timeout: WAIT });
  assert.equal((await replyText(page, id)).trim(), FULL_REPLY.trim());
  assert.ok(early.length < FULL_REPLY.trim().length, "the reply grew in place");
  assert.equal(await replyTo(page, id).count(), 1);
  assert.equal(await page.locator("#cancel").isVisible(), false);
  assert.equal(await page.locator(`li.msg.out[data-id="${id}"] .note`).textContent(), "✓ received");
  console.log("ok - a message gets a streamed reply that grows in place and finishes");
  return id;
}

async function quotedReply(page, frames, quotedId) {
  await replyTo(page, quotedId).locator(".quote-btn").click();
  assert.equal(await page.locator("#quote").isVisible(), true);
  assert.equal(await page.evaluate(() => document.activeElement.id), "message", "quoting focuses the composer");
  const id = await sendText(page, "Why so many ticks?");
  assert.equal(await page.locator("#quote").isVisible(), false);
  assert.equal((await lastOut(page).locator("blockquote").textContent()).trim(), FULL_REPLY.trim());
  const sent = frames.map((f) => JSON.parse(f)).find((f) => f.type === "chat.send" && f.messageId === id);
  assert.equal(sent.replyToMessageId, quotedId);
  assert.equal(sent.replyToBody.trim(), FULL_REPLY.trim());
  await page.waitForSelector(`li.msg.in[data-id="${id}"][data-state="done"]`, { timeout: WAIT });
  console.log("ok - a reply quote is shown and sent with replyToMessageId/replyToBody");
}

async function errorFrame(page) {
  await sendText(page, "x".repeat(MAX_CONTENT + 1));
  const error = page.locator("ol.messages:not([hidden]) li.msg.error").last();
  await error.waitFor({ timeout: WAIT });
  assert.equal(await error.locator("code").textContent(), "content_too_large");
  assert.equal(await error.getAttribute("role"), "alert");
  console.log("ok - an error frame shows its code");
}

async function groupChat(page, frames) {
  await page.locator("#group-id").fill("team");
  await page.locator("#join button").click();
  assert.equal(await page.locator("#chat").inputValue(), "team");
  assert.equal(await page.locator('ol[data-chat=""]').isVisible(), false, "the direct chat is hidden");
  const id = await sendText(page, "Hello team");
  const sent = frames.map((f) => JSON.parse(f)).find((f) => f.type === "chat.send" && f.messageId === id);
  assert.equal(sent.chatType, "group");
  assert.equal(sent.groupId, "team");
  await page.waitForSelector(`ol[data-chat="team"] li.msg.in[data-id="${id}"][data-state="done"]`, { timeout: WAIT });
  assert.equal(await page.locator(`ol[data-chat=""] li[data-id="${id}"]`).count(), 0, "the group reply stays in the group");
  await page.locator("#chat").selectOption("");
  assert.equal(await page.locator('ol[data-chat=""]').isVisible(), true);
  console.log("ok - a group chat sends groupId and keeps its own conversation");
}

async function otherMemberInGroup(page) {
  // The page follows the group "team" (it sent there with protocol 2) and shows its direct chat.
  assert.equal(await page.locator("#chat").inputValue(), "");
  const url = `${server.base.replace("http", "ws")}/ws?senderId=bob&senderName=Bob&token=${TOKEN}&protocol=2`;
  await page.evaluate((url) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => ws.send(JSON.stringify({
      type: "chat.send", content: "Hi from Bob", chatType: "group", groupId: "team", messageId: "bob-1",
    }));
    ws.onmessage = (m) => {
      const f = JSON.parse(m.data);
      if (f.type === "chat.response" && f.done) {
        ws.close();
        // Not the page's own socket: keep it out of the list the later steps drop sockets from.
        window.__sockets.splice(window.__sockets.indexOf(ws), 1);
        resolve();
      }
    };
    ws.onerror = () => reject(new Error("Bob's socket failed"));
  }), url);
  await page.waitForSelector('ol[data-chat="team"] li.msg.in[data-id="bob-1"][data-state="done"]', { state: "attached", timeout: WAIT });
  assert.equal(await page.locator('ol[data-chat=""] li[data-id="bob-1"]').count(), 0, "another member's reply stays in the group");
  console.log("ok - the reply to another group member lands in the group, not in the open chat");
}

async function cancel(page, frames) {
  const id = await sendText(page, "Please stop me");
  await page.waitForSelector(`li.msg.in[data-id="${id}"][data-state="streaming"]`, { timeout: WAIT });
  await page.locator("#cancel").click();
  await page.waitForSelector(`li.msg.in[data-id="${id}"][data-state="cancelled"]`, { timeout: WAIT });
  const text = (await replyText(page, id)).trim();
  assert.ok(text.length > 0 && text.length < FULL_REPLY.trim().length, `a cancelled reply keeps its partial text: ${text}`);
  assert.equal(await replyTo(page, id).locator(".note").textContent(), "Stopped");
  assert.ok(frames.some((f) => JSON.parse(f).type === "chat.cancel"), "chat.cancel was sent");
  assert.equal(await page.locator("#cancel").isVisible(), false);
  console.log("ok - Stop cancels a running reply and keeps its text");
}

async function dropMidReply(page, frames) {
  const id = await sendText(page, "Survive a dropped connection");
  await page.waitForSelector(`li.msg.in[data-id="${id}"][data-state="streaming"]`, { timeout: WAIT });
  const before = await page.evaluate(() => window.__sockets.length);
  await page.evaluate(() => window.__sockets.at(-1).close());
  await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: WAIT });
  await page.waitForSelector(`li.msg.in[data-id="${id}"][data-state="done"]`, { timeout: WAIT });
  assert.equal(await page.evaluate(() => window.__sockets.length), before + 1, "one new socket");
  assert.ok(frames.some((f) => JSON.parse(f).type === "chat.resume"), "the client resumed");
  assert.equal(await replyTo(page, id).count(), 1, "one reply bubble");
  assert.equal((await replyText(page, id)).trim(), FULL_REPLY.trim(), "the reply is complete, nothing lost or doubled");
  await waitReady(page);
  console.log("ok - a socket dropped mid-reply reconnects, resumes and completes the reply exactly once");
}

async function reload(page, firstId) {
  const running = await sendText(page, "Reload while you answer");
  await page.waitForSelector(`li.msg.in[data-id="${running}"][data-state="streaming"]`, { timeout: WAIT });
  await page.reload();
  await waitReady(page);
  assert.ok(!page.url().includes("token="), "the token came from this tab's storage");
  const first = page.locator(`ol[data-chat=""] li.msg.out[data-id="${firstId}"]`);
  await first.waitFor({ timeout: WAIT });
  assert.equal((await first.locator(".text").textContent()), "Hello from the browser");
  await page.waitForSelector(`ol[data-chat=""] li.msg.in[data-id="${firstId}"][data-state="done"]`, { timeout: WAIT });
  assert.equal(await replyTo(page, firstId).count(), 1);
  assert.equal((await replyText(page, firstId)).trim(), FULL_REPLY.trim());
  // The reply that was running when the page went away arrives complete, once.
  await page.waitForSelector(`li.msg.in[data-id="${running}"][data-state="done"]`, { timeout: WAIT });
  assert.equal(await replyTo(page, running).count(), 1);
  assert.equal((await replyText(page, running)).trim(), FULL_REPLY.trim());
  assert.equal(await page.locator(`li.msg.out[data-id="${running}"]`).count(), 1);
  // The resume started from the saved seq: nothing old was replayed as a new reply.
  const ids = await page.locator('ol[data-chat=""] li.msg.in').evaluateAll((items) => items.map((i) => i.dataset.id));
  assert.equal(new Set(ids).size, ids.length, `no reply drawn twice: ${ids}`);
  console.log("ok - a reload mid-reply redraws the chat from history and the running reply completes once");
}

async function wrongToken(context, base) {
  const page = await openPage(context, base, "?token=not-the-token");
  await page.waitForSelector('#status[data-state="failed"]', { timeout: WAIT });
  assert.match(await page.locator("#status").textContent(), /authentication failed.*4401/i);
  const error = page.locator("li.msg.error").first();
  await error.waitFor({ timeout: WAIT });
  assert.equal(await error.locator("code").textContent(), "auth_failed");
  await page.close();
  console.log("ok - a wrong token shows the auth failure and its code");
}

async function pageHeaders(base) {
  const index = await fetch(`${base}/`);
  const csp = index.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'/);
  assert.ok(!/https?:/.test(csp), "no external origins in the CSP");
  assert.equal(index.headers.get("referrer-policy"), "no-referrer");
  const html = await index.text();
  assert.match(html, /name="clawsocket-ws-path" content="\/ws"/);
  const wasm = await fetch(`${base}/clawsocket.wasm`);
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
  assert.ok(WebAssembly.validate(new Uint8Array(await wasm.arrayBuffer())));
  for (const [path, type] of [["/app.js", "text/javascript"], ["/client.js", "text/javascript"], ["/app.css", "text/css"]]) {
    assert.ok((await fetch(base + path)).headers.get("content-type").startsWith(type), path);
  }
  console.log("ok - the page and its assets come from the binary with their types and a strict CSP");
}

// --- run ------------------------------------------------------------------------------------

const server = await startServer();
const profile = mkdtempSync(join(tmpdir(), "clawsocket-chromium-"));
let context;
let failed = false;
try {
  await pageHeaders(server.base);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 390, height: 760 }, // a phone
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  // Nothing may leave for another origin.
  await context.route((url) => !url.href.startsWith(server.base) && !url.href.startsWith(server.base.replace("http", "ws")),
    (route) => { problems.push(`external request: ${route.request().url()}`); return route.abort(); });

  await wrongToken(context, server.base);
  const frames = [];
  const page = await openPage(context, server.base, `?token=${TOKEN}`, frames);
  const first = await streamedReply(page, frames);
  await quotedReply(page, frames, first);
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot });
  console.log(`ok - screenshot of the conversation in ${screenshot}`);
  await errorFrame(page);
  await groupChat(page, frames);
  await otherMemberInGroup(page);
  await cancel(page, frames);
  await dropMidReply(page, frames);
  await reload(page, first);
  assert.deepEqual(problems, [], "no page errors, console errors or external requests");
} catch (e) {
  failed = true;
  console.error("FAILED:", e);
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  server.stop();
}
if (failed) process.exit(1);
console.log("web: all browser tests passed");
