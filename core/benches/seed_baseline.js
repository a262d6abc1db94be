// The hot path as the seed plugin does it in Node: JSON.parse, the seed's validation and
// identity rules, JSON.stringify of the typing, a stream and the final frame. Same work as the
// Rust benchmark's cycle. Prints `<cycles> <seconds>` for the bench harness to compare.
'use strict';

const frame = '{"type":"chat.send","content":"Hello! How are you today?","senderName":"John"}';
const urlSenderId = 'user1';
let counter = 0;

function cycle(out) {
  const msg = JSON.parse(frame);
  if (msg.type !== 'chat.send' || !msg.content) {
    out.push(JSON.stringify({ type: 'chat.error', error: "Invalid message format. Expected: { type: 'chat.send', content: '...' }" }));
    return;
  }
  const senderId = msg.senderId || urlSenderId;
  const senderName = msg.senderName || senderId;
  const chatType = msg.chatType || 'direct';
  const messageId = msg.messageId || `msg-${++counter}`;
  const sessionKey = chatType === 'group' ? `agent:main:websocket:group:${msg.groupId}` : `agent:main:websocket:direct:${senderId}`;
  let body = `${senderName}: ${msg.content}`;
  if (msg.replyToBody) body = `[Replying to: "${msg.replyToBody}"]\n\n${body}`;
  const ctx = { sessionKey, senderId, senderName, chatType, messageId, body, content: msg.content, customData: msg.customData };
  out.push(JSON.stringify({ type: 'chat.typing' }));
  const text = 'Hi John, I am fine.';
  out.push(JSON.stringify({ type: 'chat.stream', messageId: ctx.messageId, content: text, done: false }));
  out.push(JSON.stringify({ type: 'chat.response', messageId: ctx.messageId, content: text, done: true }));
}

const seconds = Number(process.argv[2] || 2);
const out = [];
for (let i = 0; i < 200000; i++) { cycle(out); out.length = 0; } // warm up the JIT
let cycles = 0;
const start = process.hrtime.bigint();
const deadline = start + BigInt(Math.round(seconds * 1e9));
let now = start;
while (now < deadline) {
  for (let i = 0; i < 10000; i++) { cycle(out); out.length = 0; }
  cycles += 10000;
  now = process.hrtime.bigint();
}
console.log(`${cycles} ${Number(now - start) / 1e9}`);
