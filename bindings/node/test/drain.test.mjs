// drain(server) (one native call, decoded in JavaScript) must give exactly what
// pollTransmits() and pollEvents() give, whatever the text holds.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Config, Server, drain } from 'clawsocket';

const { decode } = createRequire(import.meta.url)('../drain.js');

/** Two servers fed the same inputs: one drained by the polls, one by drain(). */
function pair() {
  const config = () => new Config({ auth: { enabled: false }, limits: { messagesPerMinute: 0 } });
  const polled = new Server(config());
  const drained = new Server(config());
  return {
    polled,
    drained,
    both(input) {
      input(polled);
      input(drained);
      const want = { transmits: polled.pollTransmits(), events: polled.pollEvents() };
      const got = drain(drained);
      assert.deepStrictEqual(got, want);
      return got;
    },
  };
}

test('drain() equals the polls for frames, events, ids and closes', () => {
  const servers = pair();
  const out = servers.both((s) => s.handleConnect(10, 'senderId=user%3A1&senderName=J%C3%BCrgen%20%F0%9F%98%80'));
  assert.equal(out.transmits.length, 1);
  const connection = out.transmits[0].connection;
  // Non-ASCII (UTF-16 surrogate pairs), newlines, colons and digits in the payloads.
  const content = 'Grüße 😀 𝄞 日本語\nline two: 12 34:56 "quoted" \\ end';
  const frame = JSON.stringify({ type: 'chat.send', content, messageId: 'm:1 2' });
  const sent = servers.both((s) => s.handleText(20, connection, Buffer.from(frame)));
  const runTurn = sent.events.find((e) => e.kind === 'run_turn');
  assert.ok(runTurn, 'run_turn event');
  assert.equal(runTurn.connection, connection);
  assert.equal(JSON.parse(runTurn.json).turn.content, content);
  servers.both((s) => s.handleAgentDelta(30, runTurn.turn, 'Antwort 😀\n: 7 '));
  const finished = servers.both((s) => s.handleAgentFinal(40, runTurn.turn, null));
  assert.ok(finished.events.some((e) => e.kind === 'turn_finished' && e.turn === runTurn.turn));
  const closed = servers.both((s) => s.handleShutdown(50));
  assert.ok(closed.transmits.some((t) => t.close && t.close.code === 1001));
  assert.deepStrictEqual(drain(servers.drained), { transmits: [], events: [] });
});

test('drain() keeps several connections and their order apart', () => {
  const servers = pair();
  const ids = [];
  for (let i = 0; i < 12; i++) {
    ids.push(servers.both((s) => s.handleConnect(i, `senderId=u${i}`)).transmits[0].connection);
  }
  servers.both((s) => {
    for (const [i, id] of ids.entries()) {
      s.handleText(100 + i, id, JSON.stringify({ type: 'chat.send', content: `m ${i}`, messageId: `id${i}` }));
    }
  });
});

test('decode() rejects malformed input', () => {
  for (const bad of ['X 1 2:ab', 'T 1 9:short', 'T x 1:a', 'T 1', 'E run_turn', 'C 1 1001 -:x']) {
    assert.throws(() => decode(bad), /malformed/, bad);
  }
  assert.deepStrictEqual(decode(''), { transmits: [], events: [] });
});
