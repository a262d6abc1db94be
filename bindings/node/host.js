'use strict';
// A thin host: sockets (ws), clock, timers, the auth HTTP call and the agent's async generator
// around the core's Server. Every protocol decision is the core's; this file only moves bytes
// and runs what the core asks for.
const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');
const { Server, Config } = require('./native.js');
const { drain } = require('./drain.js');

/** Milliseconds on a monotonic clock anchored at the Unix epoch. */
const clock = () => Math.floor(performance.timeOrigin + performance.now());

/** setTimeout's largest delay. */
const MAX_DELAY = 2 ** 31 - 1;
/** A socket whose unsent data grows past this is a slow consumer: it is closed, not buffered. */
const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;
/** The core's CLOSE_SLOW_CONSUMER: the close code every clawsocket host uses for a client that stops reading. */
const CLOSE_SLOW_CONSUMER = 4008;

function toConfig(config) {
  if (config instanceof Config) return config;
  if (config === undefined || config === null) return new Config();
  // A JSON round trip drops what JSON cannot carry (undefined, functions) before the core parses it.
  return new Config(typeof config === 'string' ? config : JSON.parse(JSON.stringify(config)));
}

/** Turns whatever the agent returned into an async iterator (generators, iterables, promises). */
function iterate(result) {
  if (result && typeof result[Symbol.asyncIterator] === 'function') return result[Symbol.asyncIterator]();
  if (result && typeof result !== 'string' && typeof result[Symbol.iterator] === 'function') {
    return result[Symbol.iterator]();
  }
  // A plain async function: its resolved string is the whole reply.
  let done = false;
  return {
    async next() {
      if (done) return { done: true, value: undefined };
      done = true;
      return { done: true, value: await result };
    },
  };
}

/**
 * Serves the protocol on a WebSocket endpoint and runs `agent` for every accepted message.
 * Resolves once the port is listening.
 */
async function serve(options) {
  const { agent } = options ?? {};
  if (typeof agent !== 'function') throw new TypeError('serve: `agent` must be an async generator function');
  const config = toConfig(options.config);
  if (options.env !== false) config.applyEnv(process.env.WS_AUTH_ENABLED, process.env.WS_AUTH_ENDPOINT);
  const onError = options.onError ?? ((err) => console.error('clawsocket:', err));
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;

  const core = new Server(config);
  /** connection id -> WebSocket */
  const sockets = new Map();
  /** turn id -> { controller, iterator, cancelled } */
  const running = new Map();
  let timer = null;
  let timerAt = null;
  let closed = false;

  function deliver(t) {
    const ws = sockets.get(t.connection);
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (t.close) {
      ws.close(t.close.code, t.close.reason);
      return;
    }
    ws.send(t.text);
    if (ws.bufferedAmount > maxBuffered) {
      // Try to say why, but never wait on a client that does not read.
      ws.close(CLOSE_SLOW_CONSUMER, 'Slow consumer: outbound queue full');
      setTimeout(() => ws.terminate(), 500).unref();
    }
  }

  function armTimer() {
    const at = core.pollTimeout();
    if (at === timerAt && (timer || at === null)) return;
    if (timer) clearTimeout(timer);
    timer = null;
    timerAt = at;
    if (at === null || closed) return;
    timer = setTimeout(() => {
      timer = null;
      timerAt = null;
      core.handleTimeout(clock());
      pump();
    }, Math.min(MAX_DELAY, Math.max(0, at - clock())));
  }

  /** Drains every output of the core; call after each input. */
  function pump() {
    for (;;) {
      const { transmits, events } = drain(core);
      if (transmits.length === 0 && events.length === 0) break;
      for (const t of transmits) deliver(t);
      for (const e of events) handleEvent(e);
    }
    armTimer();
  }

  function handleEvent(e) {
    if (options.onEvent) {
      try {
        options.onEvent(e);
      } catch (err) {
        onError(err);
      }
    }
    switch (e.kind) {
      case 'verify_token':
        verify(e.connection, JSON.parse(e.json).request);
        break;
      case 'run_turn':
        runTurn(e.turn, JSON.parse(e.json).turn);
        break;
      case 'cancel_turn':
        cancelTurn(e.turn);
        break;
      case 'fetch_history':
        fetchHistory(e.request, JSON.parse(e.json));
        break;
      default:
        // provision_agent, turn_finished, pairing_*: observable through onEvent.
        break;
    }
  }

  /** The seed's HTTP contract: POST the verify request as JSON to auth.endpoint. */
  async function verify(connection, request) {
    try {
      const response = await fetch(config.authEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(config.authTimeoutMs),
      });
      const body = Buffer.from(await response.arrayBuffer());
      core.handleAuthResponse(clock(), connection, response.status, body);
    } catch (err) {
      // A timeout is the core's to decide (its own deadline); anything else is unreachable.
      if (err && err.name === 'TimeoutError') core.handleTimeout(clock());
      else core.handleAuthUnavailable(clock(), connection);
    }
    pump();
  }

  async function runTurn(turnId, context) {
    const controller = new AbortController();
    const entry = { controller, iterator: null, cancelled: false };
    running.set(turnId, entry);
    try {
      entry.iterator = iterate(agent(context, { signal: controller.signal }));
      for (;;) {
        const step = await entry.iterator.next();
        if (entry.cancelled) return;
        if (step.done) {
          const final = typeof step.value === 'string' ? step.value : null;
          core.handleAgentFinal(clock(), turnId, final);
          break;
        }
        if (step.value === undefined || step.value === null) continue;
        core.handleAgentDelta(clock(), turnId, String(step.value));
        pump();
      }
    } catch (err) {
      if (!entry.cancelled) core.handleAgentError(clock(), turnId, (err && err.message) || 'Agent failed');
    } finally {
      running.delete(turnId);
      pump();
    }
  }

  /** CancelTurn: abort the signal and close the generator (its `finally` blocks run). */
  function cancelTurn(turnId) {
    const entry = running.get(turnId);
    if (!entry) return;
    entry.cancelled = true;
    entry.controller.abort(new Error('turn cancelled'));
    if (entry.iterator && typeof entry.iterator.return === 'function') {
      Promise.resolve()
        .then(() => entry.iterator.return())
        .catch(() => {});
    }
  }

  async function fetchHistory(request, e) {
    let page;
    try {
      page = options.history
        ? await options.history({ sessionKey: e.sessionKey, limit: e.limit, cursor: e.cursor })
        : 'this host keeps no history';
    } catch (err) {
      page = (err && err.message) || 'history store failed';
    }
    try {
      core.handleHistory(clock(), request, page);
    } catch (err) {
      onError(err);
    }
    pump();
  }

  const httpServer = http.createServer((req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('WebSocket endpoint: connect with a WebSocket client\n');
  });
  const path = options.path ?? config.path;
  const wss = new WebSocketServer({
    server: httpServer,
    path,
    // Frames up to a few times the core's limit reach the core, which refuses oversize ones
    // with a chat.error and keeps the connection; beyond that ws closes with 1009.
    maxPayload: Math.max(4 * config.maxFrameBytes, 64 * 1024),
  });

  wss.on('connection', (ws, req) => {
    const query = new URL(req.url, 'http://localhost').search.replace(/^\?/, '');
    const id = core.handleConnect(clock(), query);
    sockets.set(id, ws);
    ws.on('message', (data, isBinary) => {
      if (!sockets.has(id)) return;
      if (isBinary) core.handleBinary(clock(), id, data);
      else core.handleText(clock(), id, data);
      pump();
    });
    ws.on('close', () => {
      sockets.delete(id);
      // A disconnect is not a cancel: the reply keeps running for the session.
      core.handleDisconnect(clock(), id);
      pump();
    });
    ws.on('error', () => ws.terminate());
    pump();
  });

  const host = options.host ?? config.host;
  const port = options.port ?? config.port;
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const address = httpServer.address();
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    core,
    port: address.port,
    host: address.address,
    path,
    url: `ws://${urlHost}:${address.port}${path}`,
    /** Cancels running replies (final cancelled frames), closes every socket with 1001. */
    async close() {
      if (closed) return;
      core.handleShutdown(clock());
      pump();
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const grace = setTimeout(() => {
        for (const ws of wss.clients) ws.terminate();
      }, 1000);
      await new Promise((resolve) => wss.close(() => resolve()));
      await new Promise((resolve) => httpServer.close(() => resolve()));
      clearTimeout(grace);
    },
  };
}

module.exports = { serve, clock };
