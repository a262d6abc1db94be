// The streaming client wrapper (core Client state machine) against the ws host.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, serve, Client } from 'clawsocket';
import { gate } from './helpers.mjs';

describe('connect()', () => {
  let host;
  const gates = new Map();
  before(async () => {
    host = await serve({
      port: 0,
      host: '127.0.0.1',
      config: { auth: { enabled: false } },
      env: false,
      async *agent(turn) {
        if (turn.content === 'fail') throw new Error('no luck');
        if (turn.content.startsWith('wait')) {
          const g = gate();
          gates.set(turn.content, g);
          yield 'before ';
          await g.promise;
          yield 'after';
          return;
        }
        for (const word of ['one ', 'two ', 'three']) yield word;
      },
    });
  });
  after(() => host.close());

  for (const protocol of [1, 2]) {
    test(`async iterator over a streamed reply (protocol ${protocol})`, async () => {
      const client = await connect(host.url, { senderId: `iter${protocol}`, protocol });
      assert.equal(client.info.protocol, protocol);
      assert.equal(client.info.senderId, `iter${protocol}`);
      const reply = client.send('count');
      const parts = [];
      for await (const part of reply) parts.push(part);
      assert.deepEqual(
        parts.map((p) => p.text),
        ['one ', 'one two ', 'one two three'],
      );
      assert.equal(parts.map((p) => p.delta).join(''), 'one two three');
      assert.deepEqual(await reply.result, { messageId: reply.messageId, text: 'one two three', cancelled: false });
      client.close();
    });
  }

  test('an agent failure throws from the iterator with the stable code', async () => {
    const client = await connect(host.url, { senderId: 'failing' });
    const reply = client.send('fail');
    await assert.rejects(
      (async () => {
        for await (const _ of reply);
      })(),
      (err) => err.code === 'agent_error' && err.message === 'no luck',
    );
    client.close();
  });

  test('a dropped socket reconnects and the reply still arrives (resume)', async () => {
    const client = await connect(host.url, { senderId: 'roamer', protocol: 2, reconnectBaseMs: 20 });
    const reply = client.send('wait for me');
    const iterator = reply[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value.text, 'before ');
    const reconnected = new Promise((resolve) => client.once('ready', resolve));
    client.ws.terminate();
    await reconnected;
    gates.get('wait for me').open();
    const rest = [];
    for (let step = await iterator.next(); !step.done; step = await iterator.next()) rest.push(step.value.text);
    assert.equal((await reply.result).text, 'before after');
    assert.ok(rest.length === 0 || rest.at(-1) === 'before after');
    client.close();
  });

  test('the core Client class is usable directly', () => {
    const core = new Client({ senderId: 'a b', senderName: 'Zoë', protocol: 2, stream: 'delta' });
    assert.equal(core.connectQuery(), 'senderId=a%20b&senderName=Zo%C3%AB&protocol=2&stream=delta');
    assert.deepEqual(core.pollEvent(), { kind: 'reconnect', attempt: 0 });
    assert.throws(() => core.send(0, { content: '  ' }), (err) => err.code === 'empty_content');
    assert.throws(() => core.handleFrame(0, 'nope'), (err) => err.code === 'invalid_frame');
    // Protocol 2 events name their session, so a client following several can route them.
    core.handleOpen(1);
    const key = 'agent:main:websocket:group:team';
    core.handleFrame(2, JSON.stringify({ type: 'chat.stream', messageId: 'm', content: 'Hi', done: false, sessionKey: key, seq: 1 }));
    core.handleFrame(3, JSON.stringify({ type: 'chat.response', messageId: 'm', content: 'Hi', done: true, sessionKey: key, seq: 2 }));
    const partial = core.pollEvent();
    assert.equal(partial.kind, 'partial');
    assert.equal(partial.sessionKey, key);
    const reply = core.pollEvent();
    assert.equal(reply.kind, 'reply');
    assert.equal(reply.sessionKey, key);
  });
});

describe('connect() with auth refused', () => {
  test('rejects with the server code', async () => {
    const host = await serve({
      agent: async function* () {},
      port: 0,
      host: '127.0.0.1',
      config: { auth: { enabled: true, required: true } },
      env: false,
    });
    try {
      await assert.rejects(connect(host.url, { senderId: 'nobody' }), (err) => err.code === 'auth_required');
    } finally {
      await host.close();
    }
  });
});

describe('connect() to nothing', () => {
  test('rejects when the first connection fails', async () => {
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address();
    await new Promise((resolve) => probe.close(resolve));
    await assert.rejects(connect(`ws://127.0.0.1:${port}/ws`), (err) => err.code === 'closed');
  });
});
