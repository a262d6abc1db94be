// The ws host over real sockets on 127.0.0.1: the seed README's cases, bad frames, auth over
// HTTP, cancellation and a disconnect in the middle of a reply.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { serve } from 'clawsocket';
import { gate, isType, peer } from './helpers.mjs';

/** Test agent: remembers names per session, echoes everything else in two chunks. */
function makeAgent() {
  const memory = new Map();
  const turns = [];
  const gates = new Map();
  const stops = [];
  async function* agent(turn, { signal }) {
    turns.push(turn);
    if (turn.content.startsWith('slow')) {
      // Streams one chunk, then waits for the test (or a cancel) before finishing.
      const g = gate();
      gates.set(turn.messageId, g);
      try {
        yield 'part one;';
        await Promise.race([
          g.promise,
          new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true })),
        ]);
        if (signal.aborted) return;
        yield ' part two';
      } finally {
        stops.push({ messageId: turn.messageId, aborted: signal.aborted });
      }
      return;
    }
    if (turn.content === 'fail') throw new Error('the agent broke');
    const name = /^My name is (\w+)/.exec(turn.content);
    if (name) {
      memory.set(turn.sessionKey, name[1]);
      yield `Nice to meet you, ${name[1]}`;
      return;
    }
    if (turn.content === 'What is my name?') {
      yield `Your name is ${memory.get(turn.sessionKey) ?? 'unknown'}`;
      return;
    }
    yield 'Echo: ';
    yield turn.content;
  }
  return { agent, turns, gates, stops };
}

describe('serve() without auth', () => {
  let host;
  let a;
  const finished = [];
  before(async () => {
    a = makeAgent();
    host = await serve({
      agent: a.agent,
      port: 0,
      host: '127.0.0.1',
      config: { auth: { enabled: false } },
      env: false,
      onEvent: (e) => {
        if (e.kind === 'turn_finished') finished.push(JSON.parse(e.json));
      },
    });
  });
  after(() => host.close());

  const url = (query) => `${host.url}?${query}`;

  test('basic message: ready, typing, cumulative stream, final response', async () => {
    const p = await peer(url('senderId=user1&senderName=John'));
    const ready = await p.next();
    assert.equal(ready.type, 'chat.ready');
    assert.equal(ready.senderId, 'user1');
    p.send({ type: 'chat.send', content: 'Hello!' });
    const typing = await p.next();
    assert.equal(typing.type, 'chat.typing');
    const first = await p.next();
    assert.deepEqual(first, { type: 'chat.stream', messageId: typing.messageId, content: 'Echo: ', done: false });
    const second = await p.next();
    assert.deepEqual(second, { type: 'chat.stream', messageId: typing.messageId, content: 'Echo: Hello!', done: false });
    const final = await p.next();
    assert.deepEqual(final, { type: 'chat.response', messageId: typing.messageId, content: 'Echo: Hello!', done: true });
    const turn = a.turns.find((t) => t.messageId === typing.messageId);
    assert.equal(turn.body, 'John: Hello!');
    assert.equal(turn.senderId, 'user1');
    await p.close();
  });

  test('message with custom sender', async () => {
    const p = await peer(url('senderId=user1&senderName=John'));
    p.send({ type: 'chat.send', content: 'Hi there!', senderId: 'user_123', senderName: 'Alice', messageId: 'm-alice' });
    const final = await p.next(isType('chat.response'));
    assert.equal(final.content, 'Echo: Hi there!');
    const turn = a.turns.find((t) => t.messageId === 'm-alice');
    assert.equal(turn.senderId, 'user_123');
    assert.equal(turn.body, 'Alice: Hi there!');
    await p.close();
  });

  test('multi-turn conversation keeps the session', async () => {
    const p = await peer(url('senderId=memo&senderName=John'));
    p.send({ type: 'chat.send', content: 'My name is John' });
    p.send({ type: 'chat.send', content: 'What is my name?' });
    const one = await p.next(isType('chat.response'));
    assert.equal(one.content, 'Nice to meet you, John');
    const two = await p.next(isType('chat.response'));
    assert.equal(two.content, 'Your name is John');
    await p.close();
  });

  test('reply quote reaches the agent as the seed builds it', async () => {
    const p = await peer(url('senderId=quoter'));
    p.send({ type: 'chat.send', content: 'I agree', replyToBody: "Let's use Python for this project", messageId: 'q1' });
    await p.next(isType('chat.response'));
    const turn = a.turns.find((t) => t.messageId === 'q1');
    assert.equal(turn.body, '[Replying to: "Let\'s use Python for this project"]\n\nquoter: I agree');
    await p.close();
  });

  test('group chat message', async () => {
    const p = await peer(url('senderId=grouper'));
    p.send({ type: 'chat.send', content: 'Hello everyone!', chatType: 'group', groupId: 'dev-team', groupSubject: 'Dev Team', messageId: 'g1' });
    await p.next(isType('chat.response'));
    const turn = a.turns.find((t) => t.messageId === 'g1');
    assert.equal(turn.chatType, 'group');
    assert.equal(turn.groupId, 'dev-team');
    assert.equal(turn.groupSubject, 'Dev Team');
    assert.match(turn.sessionKey, /group:dev-team$/);
    await p.close();
  });

  test('custom data stays in its own namespace', async () => {
    const p = await peer(url('senderId=custom'));
    p.send({ type: 'chat.send', content: 'Process this', customData: { priority: 'high', source: 'api', senderId: 'evil' }, messageId: 'c1' });
    await p.next(isType('chat.response'));
    const turn = a.turns.find((t) => t.messageId === 'c1');
    assert.deepEqual(turn.customData, { priority: 'high', source: 'api', senderId: 'evil' });
    assert.equal(turn.senderId, 'custom');
    await p.close();
  });

  test('long message', async () => {
    const content =
      'Please write a Python function that calculates the factorial of a number recursively and iteratively, then compare their performance.';
    const p = await peer(url('senderId=longer'));
    p.send({ type: 'chat.send', content });
    const final = await p.next(isType('chat.response'));
    assert.equal(final.content, `Echo: ${content}`);
    await p.close();
  });

  test('a bad frame gets chat.error and the connection stays usable', async () => {
    const p = await peer(url('senderId=clumsy'));
    p.send('this is not json');
    const err = await p.next(isType('chat.error'));
    assert.equal(err.code, 'invalid_json');
    assert.equal(err.error, 'Failed to parse message');
    p.send({ type: 'chat.send', content: '' });
    const empty = await p.next(isType('chat.error'));
    assert.equal(empty.error, "Invalid message format. Expected: { type: 'chat.send', content: '...' }");
    p.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const binary = await p.next(isType('chat.error'));
    assert.equal(binary.code, 'binary_frame');
    p.send({ type: 'chat.send', content: 'still here' });
    const final = await p.next(isType('chat.response'));
    assert.equal(final.content, 'Echo: still here');
    await p.close();
  });

  test('an agent error becomes chat.error agent_error', async () => {
    const p = await peer(url('senderId=breaker'));
    p.send({ type: 'chat.send', content: 'fail', messageId: 'f1' });
    const err = await p.next(isType('chat.error'));
    assert.equal(err.code, 'agent_error');
    assert.equal(err.messageId, 'f1');
    assert.equal(err.error, 'the agent broke');
    await p.close();
  });

  test('a disconnect mid-reply does not cancel the turn', async () => {
    const p = await peer(url('senderId=leaver'));
    p.send({ type: 'chat.send', content: 'slow reply', messageId: 'd1' });
    const partial = await p.next(isType('chat.stream'));
    assert.equal(partial.content, 'part one;');
    await p.close();
    // The socket is gone; the agent keeps going and finishes normally.
    a.gates.get('d1').open();
    await waitFor(() => finished.some((f) => f.messageId === 'd1'));
    const done = finished.find((f) => f.messageId === 'd1');
    assert.equal(done.outcome, 'completed');
    assert.equal(done.text, 'part one; part two');
    assert.deepEqual(a.stops.find((s) => s.messageId === 'd1'), { messageId: 'd1', aborted: false });
  });

  test('chat.cancel stops the generator (protocol 2)', async () => {
    const p = await peer(url('senderId=canceller&protocol=2'));
    p.send({ type: 'chat.send', content: 'slow and cancelled', messageId: 'x1' });
    await p.next(isType('chat.stream'));
    p.send({ type: 'chat.cancel', messageId: 'x1' });
    const final = await p.next(isType('chat.response'));
    assert.equal(final.cancelled, true);
    assert.equal(final.content, 'part one;');
    await waitFor(() => a.stops.some((s) => s.messageId === 'x1'));
    assert.deepEqual(a.stops.find((s) => s.messageId === 'x1'), { messageId: 'x1', aborted: true });
    await p.close();
  });
});

describe('serve() with the seed auth contract', () => {
  let host;
  let auth;
  const requests = [];
  before(async () => {
    auth = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const request = JSON.parse(body);
        requests.push({ method: req.method, type: req.headers['content-type'], request });
        res.setHeader('content-type', 'application/json');
        if (request.token === 'good') {
          res.end(JSON.stringify({ success: true, data: { userId: 'user_9', username: 'Nine', plan: 'pro' } }));
        } else {
          res.statusCode = 401;
          res.end(JSON.stringify({ success: false, error: 'invalid_token' }));
        }
      });
    });
    await new Promise((resolve) => auth.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${auth.address().port}/api/auth/verify`;
    host = await serve({
      agent: async function* (turn) {
        yield `${turn.senderId} (${turn.auth?.plan ?? 'anonymous'})`;
      },
      port: 0,
      host: '127.0.0.1',
      config: { channels: { websocket: { auth: { enabled: true, endpoint, timeout: 2000, required: true } } } },
      env: false,
    });
  });
  after(async () => {
    await host.close();
    await new Promise((resolve) => auth.close(resolve));
  });

  test('a valid token: identity from the auth service, spoofed senderId refused', async () => {
    const p = await peer(`${host.url}?token=good&senderId=mallory`);
    const ready = await p.next(isType('chat.ready'));
    assert.equal(ready.senderId, 'user_9');
    assert.equal(ready.authenticated, true);
    const seen = requests.find((r) => r.request.token === 'good');
    assert.equal(seen.method, 'POST');
    assert.equal(seen.type, 'application/json');
    assert.equal(seen.request.tokenType, 'local');
    p.send({ type: 'chat.send', content: 'who am I' });
    const final = await p.next(isType('chat.response'));
    assert.equal(final.content, 'user_9 (pro)');
    p.send({ type: 'chat.send', content: 'as someone else', senderId: 'admin' });
    const err = await p.next(isType('chat.error'));
    assert.equal(err.code, 'identity_mismatch');
    await p.close();
  });

  test('a rejected token: chat.error then close 4401', async () => {
    const p = await peer(`${host.url}?token=bad`);
    const err = await p.next(isType('chat.error'));
    assert.equal(err.error, 'Authentication failed: invalid_token');
    const closed = await p.closed;
    assert.equal(closed.code, 4401);
  });

  test('no token while required: close 4401', async () => {
    const p = await peer(`${host.url}?senderId=x`);
    const err = await p.next(isType('chat.error'));
    assert.equal(err.error, 'Token required. Connect with ?token=YOUR_TOKEN');
    assert.equal((await p.closed).code, 4401);
  });
});

describe('serve() with an unreachable auth service', () => {
  test('auth unavailable closes with 4401', async () => {
    // A port that was just free: nothing listens there.
    const probe = http.createServer();
    await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = probe.address().port;
    await new Promise((resolve) => probe.close(resolve));
    const host = await serve({
      agent: async function* () {},
      port: 0,
      host: '127.0.0.1',
      config: { auth: { enabled: true, endpoint: `http://127.0.0.1:${port}/verify`, required: true } },
      env: false,
    });
    try {
      const p = await peer(`${host.url}?token=t`);
      const err = await p.next(isType('chat.error'));
      assert.equal(err.code, 'auth_unavailable');
      assert.equal((await p.closed).code, 4401);
    } finally {
      await host.close();
    }
  });
});

async function waitFor(condition) {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
