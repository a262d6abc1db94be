'use strict';
// A WebSocket client on the core's Client state machine: the core builds frames, assembles
// streamed replies and decides when to reconnect; this file owns the socket and the timer.
const { EventEmitter } = require('node:events');
const WebSocket = require('ws');
const { Client } = require('./native.js');
const { clock } = require('./host.js');

function codedError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

/** One streamed reply: async-iterate its parts, or await `result`/`text`. */
class Reply {
  constructor(messageId) {
    this.messageId = messageId;
    this._parts = [];
    this._waiting = null;
    this._ended = false;
    this._error = null;
    this._lastText = '';
    this.result = new Promise((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
    // Callers that only iterate must not see an unhandled rejection.
    this.result.catch(() => {});
    this.text = this.result.then((r) => r.text);
    this.text.catch(() => {});
  }

  _wake() {
    if (this._waiting) {
      const wake = this._waiting;
      this._waiting = null;
      wake();
    }
  }

  _partial(text) {
    const delta = text.startsWith(this._lastText) ? text.slice(this._lastText.length) : text;
    this._lastText = text;
    this._parts.push({ messageId: this.messageId, text, delta });
    this._wake();
  }

  _finish(text, cancelled) {
    this._ended = true;
    this._resolve({ messageId: this.messageId, text, cancelled });
    this._wake();
  }

  _fail(err) {
    this._ended = true;
    this._error = err;
    this._reject(err);
    this._wake();
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this._parts.length > 0) {
        yield this._parts.shift();
        continue;
      }
      if (this._error) throw this._error;
      if (this._ended) return;
      await new Promise((resolve) => {
        this._waiting = resolve;
      });
    }
  }
}

/** A connection to a clawsocket (or seed openclaw-websocket) server that reconnects by itself. */
class ChatClient extends EventEmitter {
  constructor(url, options = {}) {
    super();
    this.url = url;
    // Without waitForServer a first connection that fails before the ready frame is final.
    this._waitForServer = options.waitForServer === true;
    this.core = new Client(options);
    this.ws = null;
    this.info = null;
    this._replies = new Map();
    this._timer = null;
    this._closed = false;
    this._lastError = null;
    this.ready = new Promise((resolve, reject) => {
      this._readyResolve = resolve;
      this._readyReject = reject;
    });
    this.ready.catch(() => {});
    this._pump();
  }

  _open() {
    const target = new URL(this.url);
    const query = this.core.connectQuery();
    target.search = target.search ? `${target.search.slice(1)}&${query}` : query;
    const ws = new WebSocket(target);
    this.ws = ws;
    ws.on('open', () => {
      this.core.handleOpen(clock());
      this._pump();
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        this.core.handleFrame(clock(), data.toString('utf8'));
      } catch (err) {
        this.emit('protocolError', err);
      }
      this._pump();
    });
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.info && !this._waitForServer) this.core.stop();
      this.core.handleClose(clock(), code || 1006);
      this._pump();
    });
    ws.on('error', () => {
      // 'close' follows and reports it to the core.
    });
  }

  _pump() {
    for (;;) {
      const events = this.core.pollEvents();
      const frames = this.ws && this.ws.readyState === WebSocket.OPEN ? this.core.pollTransmits() : [];
      if (events.length === 0 && frames.length === 0) break;
      for (const frame of frames) this.ws.send(frame);
      for (const event of events) this._handle(event);
    }
    this._arm();
  }

  _arm() {
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    const at = this.core.pollTimeout();
    if (at === null || this._closed) return;
    this._timer = setTimeout(() => {
      this._timer = null;
      this.core.handleTimeout(clock());
      this._pump();
    }, Math.min(2 ** 31 - 1, Math.max(0, at - clock())));
  }

  _handle(event) {
    this.emit('event', event);
    const reply = event.messageId ? this._replies.get(event.messageId) : undefined;
    switch (event.kind) {
      case 'reconnect':
        if (!this._closed) this._open();
        break;
      case 'ready':
        this.info = event;
        this._readyResolve(event);
        this.emit('ready', event);
        break;
      case 'partial':
        if (reply) reply._partial(event.text);
        break;
      case 'reply':
        if (reply) {
          this._replies.delete(event.messageId);
          reply._finish(event.text, event.cancelled);
        }
        break;
      case 'error': {
        const err = codedError(event.code ?? 'error', event.message);
        err.retryable = event.retryable;
        if (event.retryAfterMs !== undefined && event.retryAfterMs !== null) err.retryAfterMs = event.retryAfterMs;
        if (reply) {
          this._replies.delete(event.messageId);
          reply._fail(err);
        } else {
          this._lastError = err;
          if (this.listenerCount('error') > 0) this.emit('error', err);
        }
        break;
      }
      case 'closed':
        if (!event.reconnecting) this._shutDown(event.closeCode);
        break;
      default:
        break;
    }
  }

  _shutDown(code) {
    this._closed = true;
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    const err = this._lastError ?? codedError('closed', `connection closed (${code})`);
    this._readyReject(err);
    for (const reply of this._replies.values()) reply._fail(err);
    this._replies.clear();
    this.emit('close', code);
  }

  /** Sends a message (a string or SendOptions) and returns its streamed reply. */
  send(message) {
    const options = typeof message === 'string' ? { content: message } : message;
    const messageId = this.core.send(clock(), options);
    const reply = new Reply(messageId);
    this._replies.set(messageId, reply);
    this._pump();
    return reply;
  }

  /** Asks the server to stop a running reply (protocol 2). */
  cancel(messageId) {
    this.core.cancel(messageId);
    this._pump();
  }

  /** Closes the socket for good. */
  close() {
    this.core.stop();
    this._closed = true;
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    const err = codedError('closed', 'client closed');
    this._readyReject(err);
    for (const reply of this._replies.values()) reply._fail(err);
    this._replies.clear();
    if (this.ws) this.ws.close(1000);
  }
}

/** Connects and resolves once the server sent its ready frame (rejects on auth failure). */
async function connect(url, options = {}) {
  const client = new ChatClient(url, options);
  try {
    await client.ready;
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

module.exports = { connect, ChatClient, Reply };
