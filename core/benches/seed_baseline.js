// The hot path as the seed plugin does it in Node, measured the same way as the Rust
// benchmark (`hot_path.rs`):
//   send:  JSON.parse of a chat.send frame, the seed's validation and identity rules, the turn
//          context, JSON.stringify of chat.typing;
//   delta: JSON.stringify of a cumulative chat.stream frame (20 per reply, as the Rust side).
//   cycle: send + one stream + the final chat.response.
// Prints one line per measurement: `<name> <operations> <seconds>`.
'use strict';

const frame = '{"type":"chat.send","content":"Hello! How are you today?","senderName":"John"}';
const urlSenderId = 'user1';
const words = 'Hi John, I am fine, thanks for asking. How can I help you today with your project? '.split(/(?<= )/);
let counter = 0;
let sink = 0;

function send() {
  const msg = JSON.parse(frame);
  if (msg.type !== 'chat.send' || !msg.content) {
    sink += JSON.stringify({ type: 'chat.error', error: "Invalid message format. Expected: { type: 'chat.send', content: '...' }" }).length;
    return null;
  }
  const senderId = msg.senderId || urlSenderId;
  const senderName = msg.senderName || senderId;
  const chatType = msg.chatType || 'direct';
  const messageId = msg.messageId || `msg-${++counter}`;
  const sessionKey = chatType === 'group' ? `agent:main:websocket:group:${msg.groupId}` : `agent:main:websocket:direct:${senderId}`;
  let body = `${senderName}: ${msg.content}`;
  if (msg.replyToBody) body = `[Replying to: "${msg.replyToBody}"]\n\n${body}`;
  const ctx = { sessionKey, senderId, senderName, chatType, messageId, body, content: msg.content, customData: msg.customData };
  sink += JSON.stringify({ type: 'chat.typing' }).length;
  return ctx;
}

function stream(ctx, text) {
  sink += JSON.stringify({ type: 'chat.stream', messageId: ctx.messageId, content: text, done: false }).length;
}

function final(ctx, text) {
  sink += JSON.stringify({ type: 'chat.response', messageId: ctx.messageId, content: text, done: true }).length;
}

function measure(name, seconds, batch) {
  for (let i = 0; i < 20; i++) batch(); // warm up the JIT
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    ops += batch();
    now = process.hrtime.bigint();
  }
  console.log(`${name} ${ops} ${Number(now - start) / 1e9}`);
}

const seconds = Number(process.argv[2] || 1);
measure('send', seconds, () => { for (let i = 0; i < 10000; i++) send(); return 10000; });
measure('delta', seconds, () => {
  const ctx = send();
  let n = 0;
  for (let r = 0; r < 500; r++) {
    let text = '';
    for (let w = 0; w < 20; w++) { text += words[w % words.length]; stream(ctx, text); n++; }
  }
  return n;
});
measure('cycle', seconds, () => {
  for (let i = 0; i < 10000; i++) { const ctx = send(); stream(ctx, 'Hi John, I am fine.'); final(ctx, 'Hi John, I am fine.'); }
  return 10000;
});
if (sink === 0) console.log('unreachable');
