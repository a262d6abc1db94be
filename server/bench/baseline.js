// Baseline for the load benchmark: what the seed plugin's server does per connection and per
// message (parse the URL identity, greet, validate chat.send, typing, cumulative chat.stream
// frames, final chat.response), with the same stub agent as clawsocket's `stub` backend:
// CHUNKS deltas of TEXT. No auth, no persistence.
'use strict';
const { WebSocketServer } = require('ws');

const CHUNKS = Number(process.env.STUB_CHUNKS || 20);
const TEXT = process.env.STUB_TEXT || 'lorem ipsum ';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
let counter = 0;

async function stubAgent(onDelta) {
  for (let i = 0; i < CHUNKS; i++) {
    await null; // yield between chunks as a streaming agent would
    onDelta(TEXT);
  }
}

wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://localhost');
  const senderId = url.searchParams.get('senderId') || `conn-${++counter}`;
  const senderName = url.searchParams.get('senderName') || undefined;
  ws.send(JSON.stringify({ type: 'chat.response', content: 'Connected to WebSocket chat server' }));
  ws.on('message', async (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      ws.send(JSON.stringify({ type: 'chat.error', error: 'Failed to parse message' }));
      return;
    }
    if (msg.type !== 'chat.send' || !msg.content) {
      ws.send(JSON.stringify({ type: 'chat.error', error: "Invalid message format. Expected: { type: 'chat.send', content: '...' }" }));
      return;
    }
    const messageId = msg.messageId || `msg-${Date.now()}-${++counter}`;
    const body = `${msg.senderName || senderName || msg.senderId || senderId}: ${msg.content}`;
    void body;
    ws.send(JSON.stringify({ type: 'chat.typing' }));
    let text = '';
    try {
      await stubAgent((delta) => {
        text += delta;
        ws.send(JSON.stringify({ type: 'chat.stream', messageId, content: text, done: false }));
      });
      ws.send(JSON.stringify({ type: 'chat.response', messageId, content: text, done: true }));
    } catch (e) {
      ws.send(JSON.stringify({ type: 'chat.error', messageId, error: String(e) }));
    }
  });
});

wss.on('listening', () => {
  const { address, port } = wss.address();
  console.log(`baseline: listening on ${address}:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
