// The chat page: a socket and a view around the core's client state machine (client.js over
// clawsocket.wasm). The page decides nothing about the protocol: it opens a socket when the
// client says "reconnect", feeds it every frame and close, writes what it transmits, and draws
// the events. Decisions are documented in docs/web.md.
import { loadClientModule, WasmClient } from "./client.js";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
};
const now = () => Date.now();

const wsPath = (() => {
  const meta = document.querySelector('meta[name="clawsocket-ws-path"]')?.content || "";
  return meta.startsWith("/") ? meta : "/ws"; // the placeholder when the file is opened directly
})();
const wsBase = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${wsPath}`;

// The token arrives once in the URL the server printed; keep it for this tab only and take it
// out of the address bar so it does not end up in screenshots, bookmarks or shared links.
function takeToken() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl !== null) {
    sessionStorage.setItem("clawsocket.token", fromUrl);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem("clawsocket.token") || "";
}

function randomId(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// A stable sender id per browser, so a reconnect (or reload) lands in the same session.
function identity() {
  let senderId = localStorage.getItem("clawsocket.senderId");
  if (!senderId) {
    senderId = "web-" + randomId(4);
    localStorage.setItem("clawsocket.senderId", senderId);
  }
  return { senderId, senderName: localStorage.getItem("clawsocket.senderName") || "" };
}

const state = {
  module: null,
  client: null,
  socket: null,
  timer: 0,
  name: "",
  activeChat: "",          // "" is the direct chat, otherwise a group id
  chats: new Map(),        // chat key -> <ol>
  messageChat: new Map(),  // message id -> chat key (where its reply goes)
  running: new Map(),      // message id -> "typing" | "streaming" (replies not finished yet)
  quote: null,             // {messageId, body}
  notes: new Set(),        // system notes already shown (the greeting repeats on reconnect)
  directSession: "",       // the connection's own session key (from chat.ready)
  historyAsked: false,     // one history page per client, to redraw the chat after a reload
  seqsKey: "",             // where this sender's last seqs are kept (sessionStorage)
  seqsSaved: "",
};

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = kind;
}

function chatList(key) {
  let list = state.chats.get(key);
  if (!list) {
    list = el("ol", "messages");
    list.setAttribute("role", "log");
    list.setAttribute("aria-live", "polite");
    list.setAttribute("aria-label", key ? `Group ${key}` : "Direct chat");
    list.dataset.chat = key;
    list.hidden = key !== state.activeChat;
    $("conversations").append(list);
    state.chats.set(key, list);
    if (key && ![...$("chat").options].some((o) => o.value === key)) {
      $("chat").append(new Option(`Group: ${key}`, key));
    }
  }
  return list;
}

function showChat(key) {
  state.activeChat = key;
  chatList(key);
  for (const [k, list] of state.chats) list.hidden = k !== key;
  $("chat").value = key;
  refreshRunning();
  scrollDown();
}

function scrollDown() {
  const main = $("conversations");
  main.scrollTop = main.scrollHeight;
}

function append(chatKey, node) {
  chatList(chatKey).append(node);
  if (chatKey === state.activeChat) scrollDown();
}

function quoteButton(messageId, textNode) {
  const button = el("button", "quote-btn", "Reply");
  button.type = "button";
  button.setAttribute("aria-label", "Reply to this message");
  button.addEventListener("click", () => {
    state.quote = { messageId, body: textNode.textContent };
    $("quote-text").textContent = state.quote.body;
    $("quote").hidden = false;
    $("message").focus();
  });
  return button;
}

function outgoing(messageId, who, content, quote) {
  const item = el("li", "msg out");
  item.dataset.id = messageId;
  item.append(el("span", "who", who));
  if (quote) item.append(el("blockquote", "", quote.body));
  const text = el("span", "text", content);
  item.append(text, el("span", "note", ""));
  item.append(quoteButton(messageId, text));
  return item;
}

// The reply bubble of a message, created when its first text arrives.
function replyItem(messageId) {
  const chatKey = state.messageChat.get(messageId) ?? state.activeChat;
  const list = chatList(chatKey);
  let item = list.querySelector(`li.msg.in[data-id="${CSS.escape(messageId)}"]`);
  if (!item) {
    item = el("li", "msg in");
    item.dataset.id = messageId;
    item.append(el("span", "who", "Agent"));
    const text = el("span", "text", "");
    item.append(text, el("span", "note", ""), quoteButton(messageId, text));
    append(chatKey, item);
  }
  return item;
}

function systemNote(chatKey, text) {
  append(chatKey, el("li", "msg system", text));
}

function errorItem(event) {
  const chatKey = event.messageId ? state.messageChat.get(event.messageId) ?? state.activeChat : state.activeChat;
  const item = el("li", "msg error");
  item.setAttribute("role", "alert");
  if (event.messageId) item.dataset.id = event.messageId;
  item.append(el("code", "code", event.code || "error"), document.createTextNode(": " + (event.message || "")));
  if (event.retryable) {
    const wait = event.retryAfterMs ? ` in ${Math.ceil(event.retryAfterMs / 1000)} s` : "";
    item.append(el("span", "note", `You can try again${wait}.`));
  }
  append(chatKey, item);
}

function refreshRunning() {
  const mine = [...state.running].filter(([id]) => (state.messageChat.get(id) ?? "") === state.activeChat);
  $("cancel").hidden = mine.length === 0;
  $("typing").textContent = mine.some(([, phase]) => phase === "typing") ? "Agent is typing…" : "";
}

// The chat a session key belongs to: "" for this connection's direct session, the group id
// for a group session (the key ends in the group id, percent-encoded), null otherwise.
function chatForSession(key) {
  if (!key) return null;
  if (key === state.directSession) return "";
  const marker = ":websocket:group:";
  const at = key.indexOf(marker);
  if (at < 0) return null;
  try {
    return decodeURIComponent(key.slice(at + marker.length));
  } catch {
    return null;
  }
}

function onEvent(event) {
  // A reply to a message this page did not send (another member of a group) goes to the chat
  // of its session, not to whichever chat is open.
  if (event.messageId && !state.messageChat.has(event.messageId)) {
    const chat = chatForSession(event.sessionKey);
    if (chat !== null) state.messageChat.set(event.messageId, chat);
  }
  switch (event.event) {
    case "reconnect":
      openSocket();
      break;
    case "ready":
      state.directSession = event.sessionKey;
      if (!state.historyAsked && event.protocol >= 2) {
        state.historyAsked = true;
        state.client.requestHistory({ sessionKey: event.sessionKey, limit: 50 });
      }
      setStatus(`Connected as ${event.senderId}${event.authenticated ? " (verified)" : ""} · protocol ${event.protocol}`, "ready");
      break;
    case "acked": {
      const item = chatList(state.messageChat.get(event.messageId) ?? "").querySelector(`li.msg.out[data-id="${CSS.escape(event.messageId)}"] .note`);
      if (item) item.textContent = "✓ received";
      break;
    }
    case "typing":
      if (event.messageId && !state.running.has(event.messageId)) state.running.set(event.messageId, "typing");
      refreshRunning();
      break;
    case "partial": {
      const item = replyItem(event.messageId);
      item.dataset.state = "streaming";
      item.setAttribute("aria-busy", "true"); // announce the reply once, when it is complete
      item.querySelector(".text").textContent = event.text;
      state.running.set(event.messageId, "streaming");
      refreshRunning();
      if ((state.messageChat.get(event.messageId) ?? "") === state.activeChat) scrollDown();
      break;
    }
    case "reply": {
      if (!event.messageId) {
        // The seed greeting: not a reply to anything.
        if (!state.notes.has(event.text)) {
          state.notes.add(event.text);
          systemNote("", event.text);
        }
        break;
      }
      const item = replyItem(event.messageId);
      item.querySelector(".text").textContent = event.text;
      item.dataset.state = event.cancelled ? "cancelled" : "done";
      item.querySelector(".note").textContent = event.cancelled ? "Stopped" : "";
      item.removeAttribute("aria-busy");
      state.running.delete(event.messageId);
      refreshRunning();
      break;
    }
    case "error":
      if (event.messageId) {
        state.running.delete(event.messageId);
        replyItemIfStreaming(event.messageId);
      }
      errorItem(event);
      refreshRunning();
      break;
    case "history":
      if (event.frame?.sessionKey === state.directSession) drawHistory(event.frame.messages || []);
      break;
    case "resume_gap":
      systemNote(state.activeChat, "Some messages sent while you were away could not be restored.");
      break;
    case "closed":
      state.socket = null;
      if (event.reconnecting) {
        setStatus(`Connection lost (${event.code}); reconnecting…`, "reconnecting");
      } else if (event.code === 4401) {
        setStatus("Not connected: authentication failed (close 4401). Open the URL the server printed, or enter the token under “Identity and connection”.", "failed");
      } else {
        setStatus(`Disconnected (${event.code}).`, "failed");
      }
      break;
    default:
      break;
  }
}

// Earlier messages of the direct chat (after a reload), above what is already shown; a message
// already on screen (a reply the resume just replayed, say) is not drawn twice.
function drawHistory(messages) {
  const list = chatList("");
  const earlier = document.createDocumentFragment();
  for (const m of messages) {
    const mine = m.role === "user";
    const selector = `li.msg.${mine ? "out" : "in"}[data-id="${CSS.escape(m.messageId)}"]`;
    if (list.querySelector(selector)) continue;
    state.messageChat.set(m.messageId, "");
    if (mine) {
      earlier.append(outgoing(m.messageId, m.senderName || m.senderId || "", m.content, null));
    } else {
      const item = el("li", "msg in");
      item.dataset.id = m.messageId;
      item.dataset.state = "done";
      const text = el("span", "text", m.content);
      item.append(el("span", "who", "Agent"), text, el("span", "note", ""), quoteButton(m.messageId, text));
      earlier.append(item);
    }
  }
  list.prepend(earlier);
  if (state.activeChat === "") scrollDown();
}

function replyItemIfStreaming(messageId) {
  const list = chatList(state.messageChat.get(messageId) ?? state.activeChat);
  const item = list.querySelector(`li.msg.in[data-id="${CSS.escape(messageId)}"]`);
  if (item) {
    item.dataset.state = "failed";
    item.removeAttribute("aria-busy");
  }
}

// Drains the client after every input: frames to the socket, events to the view, then arms
// the timer for the client's next deadline.
function pump() {
  const client = state.client;
  if (!client) return;
  for (;;) {
    const event = client.pollEvent();
    const frame = event ? null : client.pollTransmit();
    if (event) onEvent(event);
    else if (frame !== null) state.socket?.send(frame);
    else break;
  }
  saveSeqs();
  clearTimeout(state.timer);
  const at = client.pollTimeout();
  if (at !== null) {
    state.timer = setTimeout(() => {
      if (state.client === client) {
        client.handleTimeout(now());
        pump();
      }
    }, Math.max(0, at - now()));
  }
}

// The last seq of each session survives a reload (this tab only), so the next page resumes
// where this one stopped: a reply that finished meanwhile is replayed, nothing older is.
function saveSeqs() {
  const seqs = JSON.stringify(state.client.lastSeqs());
  if (seqs !== state.seqsSaved) {
    state.seqsSaved = seqs;
    sessionStorage.setItem(state.seqsKey, seqs);
  }
}

function restoreSeqs(client) {
  try {
    const seqs = JSON.parse(sessionStorage.getItem(state.seqsKey) || "{}");
    for (const [key, seq] of Object.entries(seqs)) {
      if (typeof seq === "number") client.setLastSeq(key, seq);
    }
  } catch {
    sessionStorage.removeItem(state.seqsKey);
  }
}

function openSocket() {
  const client = state.client;
  setStatus("Connecting…", "connecting");
  const socket = new WebSocket(`${wsBase}?${client.connectQuery()}`);
  state.socket = socket;
  // Events of a socket that is no longer the current one are ignored.
  const current = () => state.socket === socket && state.client === client;
  socket.addEventListener("open", () => {
    if (!current()) return;
    client.handleOpen(now());
    pump();
  });
  socket.addEventListener("message", (e) => {
    if (!current() || typeof e.data !== "string") return;
    client.handleFrame(now(), e.data);
    pump();
  });
  socket.addEventListener("close", (e) => {
    if (!current()) return;
    client.handleClose(now(), e.code || 1006);
    pump();
  });
}

function connect() {
  if (state.client) {
    state.client.stop();
    const old = state.socket;
    state.client.free();
    state.client = null;
    state.socket = null;
    old?.close(1000);
  }
  const { senderId, senderName } = identity();
  state.name = senderName || senderId;
  state.client = new WasmClient(state.module, {
    senderId,
    senderName: senderName || undefined,
    token: sessionStorage.getItem("clawsocket.token") || undefined,
    protocol: 2,
    stream: "delta",
    messageIdPrefix: "web-" + randomId(4),
  });
  state.historyAsked = false;
  state.seqsKey = `clawsocket.seqs.${senderId}`;
  state.seqsSaved = "";
  restoreSeqs(state.client);
  pump();
}

function send() {
  const input = $("message");
  const content = input.value;
  if (!content.trim() || !state.client) return;
  const chatKey = state.activeChat;
  const quote = state.quote;
  const result = state.client.send(now(), {
    content,
    groupId: chatKey || undefined,
    replyToMessageId: quote?.messageId,
    replyToBody: quote?.body,
  });
  if (result.error) {
    errorItem({ code: result.error, message: "The message was not sent." });
    return;
  }
  state.messageChat.set(result.messageId, chatKey);
  append(chatKey, outgoing(result.messageId, state.name, content, quote));
  input.value = "";
  clearQuote();
  pump();
}

function clearQuote() {
  state.quote = null;
  $("quote").hidden = true;
}

function cancelRunning() {
  const mine = [...state.running.keys()].filter((id) => (state.messageChat.get(id) ?? "") === state.activeChat);
  const last = mine.at(-1);
  if (last && state.client) {
    state.client.cancel(last);
    pump();
  }
}

function wireControls() {
  const { senderId, senderName } = identity();
  $("sender-id").value = senderId;
  $("sender-name").value = senderName;
  $("token").value = sessionStorage.getItem("clawsocket.token") || "";
  $("identity").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("sender-id").value.trim();
    if (id) localStorage.setItem("clawsocket.senderId", id);
    localStorage.setItem("clawsocket.senderName", $("sender-name").value.trim());
    sessionStorage.setItem("clawsocket.token", $("token").value.trim());
    $("settings").open = false;
    connect();
    $("message").focus();
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === "Escape") {
      if (state.quote) clearQuote();
      else cancelRunning();
    }
  });
  $("cancel").addEventListener("click", cancelRunning);
  $("quote-clear").addEventListener("click", () => {
    clearQuote();
    $("message").focus();
  });
  $("chat").addEventListener("change", () => showChat($("chat").value));
  $("join").addEventListener("submit", (e) => {
    e.preventDefault();
    const group = $("group-id").value.trim();
    if (!group) return;
    $("group-id").value = "";
    showChat(group);
    $("message").focus();
  });
}

async function main() {
  takeToken();
  wireControls();
  showChat("");
  try {
    state.module = await loadClientModule("clawsocket.wasm");
  } catch (e) {
    setStatus(`Could not load the chat client: ${e.message}`, "failed");
    return;
  }
  if (!identity().senderName) $("settings").open = true;
  connect();
  $("message").focus();
}

main();
