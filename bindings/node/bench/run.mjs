// Messages per second through the native core vs the pure-JavaScript seed baseline, measured in
// the same run. Each message: one inbound chat.send, typing + one stream chunk + the final reply
// out. Three ways to drain the outputs: one call per item, the batch polls, and drain().
// `node bench/run.mjs [--quick]`
import { Config, Server, drain } from 'clawsocket';
import { SeedBaseline } from './seed-baseline.mjs';

const quick = process.argv.includes('--quick');
const MESSAGES = quick ? 2_000 : 50_000;
const ROUNDS = quick ? 2 : 7;
const REPLY = 'Hello John! Here is a short streamed answer.';
const frame = (i) =>
  Buffer.from(JSON.stringify({ type: 'chat.send', content: `Hello number ${i}, how are you?`, messageId: `m${i}` }));
const frames = Array.from({ length: 1000 }, (_, i) => frame(i));

let sink = 0;

function baseline() {
  const seed = new SeedBaseline();
  const connection = { senderId: 'user1', senderName: 'John' };
  return () => {
    for (let i = 0; i < MESSAGES; i++) {
      const out = seed.handle(connection, frames[i % frames.length].toString('utf8'), REPLY);
      sink += out.length;
    }
  };
}

function nativeServer() {
  const config = new Config({ auth: { enabled: false }, limits: { messagesPerMinute: 0 } });
  const server = new Server(config);
  const conn = server.handleConnect(0, 'senderId=user1&senderName=John');
  server.pollTransmits();
  return { server, conn };
}

/** One call per output item (pollTransmit / pollEvent until null). */
function nativePerItem() {
  const { server, conn } = nativeServer();
  return () => {
    for (let i = 0; i < MESSAGES; i++) {
      server.handleText(i, conn, frames[i % frames.length]);
      let turn = 0;
      for (let t = server.pollTransmit(); t; t = server.pollTransmit()) sink += t.text.length;
      for (let e = server.pollEvent(); e; e = server.pollEvent()) if (e.kind === 'run_turn') turn = e.turn;
      server.handleAgentDelta(i, turn, REPLY);
      for (let t = server.pollTransmit(); t; t = server.pollTransmit()) sink += t.text.length;
      server.handleAgentFinal(i, turn, null);
      for (let t = server.pollTransmit(); t; t = server.pollTransmit()) sink += t.text.length;
      for (let e = server.pollEvent(); e; e = server.pollEvent()) sink += e.kind.length;
    }
  };
}

/** Batched draining: every pending output in one call (pollTransmits / pollEvents). */
function nativeBatched() {
  const { server, conn } = nativeServer();
  return () => {
    for (let i = 0; i < MESSAGES; i++) {
      server.handleText(i, conn, frames[i % frames.length]);
      sink += server.pollTransmits().length;
      const turn = server.pollEvents()[0].turn;
      server.handleAgentDelta(i, turn, REPLY);
      server.handleAgentFinal(i, turn, null);
      sink += server.pollTransmits().length + server.pollEvents().length;
    }
  };
}

/** One native call per drain: `drain()` decodes `drainEncoded()` into the same objects. */
function nativeDrain() {
  const { server, conn } = nativeServer();
  return () => {
    for (let i = 0; i < MESSAGES; i++) {
      server.handleText(i, conn, frames[i % frames.length]);
      let out = drain(server);
      sink += out.transmits.length;
      const turn = out.events[0].turn;
      server.handleAgentDelta(i, turn, REPLY);
      server.handleAgentFinal(i, turn, null);
      out = drain(server);
      sink += out.transmits.length + out.events.length;
    }
  };
}

function measure(name, make) {
  const run = make();
  run(); // warm-up
  const rates = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    run();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(MESSAGES / seconds);
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)];
  console.log(`${name.padEnd(34)} ${Math.round(median).toLocaleString('en-US').padStart(12)} msg/s`);
  return median;
}

console.log(`node ${process.version}, ${MESSAGES} messages x ${ROUNDS} rounds (median)`);
const js = measure('pure JavaScript seed baseline', baseline);
const perItem = measure('native core, pollTransmit/pollEvent', nativePerItem);
const batched = measure('native core, batched drains', nativeBatched);
const drained = measure('native core, drain()', nativeDrain);
console.log(`ratio native per-item / JavaScript: ${(perItem / js).toFixed(2)}`);
console.log(`ratio native batched  / JavaScript: ${(batched / js).toFixed(2)}`);
console.log(`ratio native drain()  / JavaScript: ${(drained / js).toFixed(2)}`);
if (sink === 0) throw new Error('nothing was produced');
