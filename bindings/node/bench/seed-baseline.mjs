// The seed plugin's per-message work in plain JavaScript, as the baseline: parse the frame,
// validate it, build the agent input, and serialise typing, one stream frame and the final reply.
const INVALID_FORMAT = "Invalid message format. Expected: { type: 'chat.send', content: '...' }";

export class SeedBaseline {
  constructor() {
    this.nextMessage = 0;
  }

  /** Returns the frames the seed writes for one inbound text frame and one reply chunk. */
  handle(connection, text, reply) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return [JSON.stringify({ type: 'chat.error', error: 'Failed to parse message' })];
    }
    if (!msg || msg.type !== 'chat.send' || typeof msg.content !== 'string' || msg.content.trim() === '') {
      return [JSON.stringify({ type: 'chat.error', error: INVALID_FORMAT })];
    }
    const messageId = typeof msg.messageId === 'string' ? msg.messageId : `msg-${++this.nextMessage}`;
    const senderId = typeof msg.senderId === 'string' ? msg.senderId : connection.senderId;
    const name = typeof msg.senderName === 'string' ? msg.senderName : connection.senderName ?? senderId;
    let body = `${name}: ${msg.content}`;
    if (typeof msg.replyToBody === 'string') body = `[Replying to: "${msg.replyToBody}"]\n\n${body}`;
    connection.lastBody = body;
    return [
      JSON.stringify({ type: 'chat.typing', messageId }),
      JSON.stringify({ type: 'chat.stream', messageId, content: reply, done: false }),
      JSON.stringify({ type: 'chat.response', messageId, content: reply, done: true }),
    ];
  }
}
