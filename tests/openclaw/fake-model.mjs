// A small OpenAI-compatible chat-completions server for the OpenClaw gateway tests.
//
// Replies are deterministic so tests can assert on them:
//   - a user message containing "[slow]" streams "tick 1 tick 2 ..." slowly (long enough to abort);
//   - "[fail:<status>]" answers with that HTTP status and an OpenAI-style error body;
//   - any other message gets "Fake model reply to: <the user's last line>".
// Usage: node fake-model.mjs [--port N] [--log FILE]; prints "LISTENING <port>" once ready.
import http from "node:http";
import fs from "node:fs";

const args = process.argv.slice(2);
const argValue = (name, fallback) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : fallback;
};
const port = Number(argValue("--port", "0"));
const logFile = argValue("--log", "");
const MODEL_ID = "fake-model";

function logRequest(entry) {
  if (logFile) fs.appendFileSync(logFile, JSON.stringify(entry) + "\n");
}

/** Text of a message whose content may be a string or a list of parts. */
function messageText(message) {
  if (typeof message.content === "string") return message.content;
  if (Array.isArray(message.content)) {
    return message.content.filter((part) => part.type === "text").map((part) => part.text).join("\n");
  }
  return "";
}

/**
 * What the user said last. OpenClaw adds user messages of its own (internal context blocks) and
 * wraps the user's text as "[<timestamp>] <text>\n\nRuntime: ...": keep only the text.
 */
function lastUserText(messages) {
  for (let i = (messages ?? []).length - 1; i >= 0; i--) {
    if (messages[i].role !== "user") continue;
    const text = messageText(messages[i]);
    if (text.startsWith("<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT")) continue;
    const firstParagraph = text.split("\n\nRuntime:")[0];
    return firstParagraph.replace(/^\[[^\]]*\] /, "").trim();
  }
  return "";
}

/** The chunks of the reply and the pause between them. */
function planReply(userText) {
  if (userText.includes("[slow]")) {
    const chunks = [];
    for (let n = 1; n <= 300; n++) chunks.push(`tick ${n} `);
    return { chunks, delayMs: 100 };
  }
  const words = `Fake model reply to: ${userText}`.split(/(?<= )/);
  return { chunks: words, delayMs: 20 };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function streamCompletion(req, res, body) {
  const userText = lastUserText(body.messages);
  const { chunks, delayMs } = planReply(userText);
  const id = `chatcmpl-${Date.now()}`;
  const created = Math.floor(Date.now() / 1000);
  let closed = false;
  res.on("close", () => {
    closed = true;
  });
  const send = (delta, finishReason = null, extra = {}) => {
    const frame = {
      id,
      object: "chat.completion.chunk",
      created,
      model: body.model ?? MODEL_ID,
      choices: [{ index: 0, delta, finish_reason: finishReason }],
      ...extra,
    };
    res.write(`data: ${JSON.stringify(frame)}\n\n`);
  };
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  send({ role: "assistant", content: "" });
  let sent = 0;
  for (const chunk of chunks) {
    if (closed) break;
    send({ content: chunk });
    sent++;
    await sleep(delayMs);
  }
  logRequest({ event: "stream-end", chunksSent: sent, chunksPlanned: chunks.length, aborted: closed });
  if (closed) return;
  send({}, "stop", {
    usage: { prompt_tokens: 10, completion_tokens: chunks.length, total_tokens: 10 + chunks.length },
  });
  res.write("data: [DONE]\n\n");
  res.end();
}

function plainCompletion(res, body) {
  const { chunks } = planReply(lastUserText(body.messages));
  const reply = {
    id: `chatcmpl-${Date.now()}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: body.model ?? MODEL_ID,
    choices: [{ index: 0, message: { role: "assistant", content: chunks.join("") }, finish_reason: "stop" }],
    usage: { prompt_tokens: 10, completion_tokens: chunks.length, total_tokens: 10 + chunks.length },
  };
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(reply));
}

const server = http.createServer((req, res) => {
  let raw = "";
  req.on("data", (data) => {
    raw += data;
  });
  req.on("end", () => {
    logRequest({ method: req.method, url: req.url, body: raw.slice(0, 200000) });
    if (req.method === "GET" && req.url.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: MODEL_ID, object: "model", owned_by: "test" }] }));
      return;
    }
    if (req.method === "POST" && req.url.endsWith("/chat/completions")) {
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400).end("bad json");
        return;
      }
      const failure = /\[fail:(\d{3})\]/.exec(lastUserText(body.messages));
      if (failure) {
        const status = Number(failure[1]);
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: `fake failure ${status}`, type: "fake_error", code: String(status) } }));
        return;
      }
      if (body.stream) streamCompletion(req, res, body);
      else plainCompletion(res, body);
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
  });
});

server.listen(port, "127.0.0.1", () => {
  console.log(`LISTENING ${server.address().port}`);
});
