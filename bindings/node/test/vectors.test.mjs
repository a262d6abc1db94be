// Runs every shared vector in tests/vectors/ through the native core and compares each output
// byte for byte with the file (tests/vectors/README.md; core/tests/vectors.rs is the reference).
// Each vector runs twice: draining with pollTransmits/pollEvents and with drain().
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Config, Server, drain } from 'clawsocket';

const vectorDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'tests', 'vectors');
const files = readdirSync(vectorDir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const EXPECTATIONS = new Set(['at', 'frames', 'events', 'nextTimeout', 'result', 'note']);

const hex = (s) => Buffer.from(s, 'hex');

function renderTransmit(t) {
  if (t.close) return `{"to":${t.connection},"close":{"code":${t.close.code},"reason":${JSON.stringify(t.close.reason)}}}`;
  return `{"to":${t.connection},"frame":${t.text}}`;
}

function historyPage(page) {
  return {
    messages: page.messages.map((m) => ({
      messageId: m.messageId,
      role: m.role,
      senderId: m.senderId,
      senderName: m.senderName,
      content: m.content,
      at: m.at,
    })),
    nextCursor: page.nextCursor,
  };
}

/** Calls the core method of one step's input; returns its result text, if it has one. */
function apply(server, input, arg, now) {
  switch (input) {
    case 'connect':
      return String(server.handleConnect(now, arg));
    case 'send':
      return void server.handleText(now, arg.conn, JSON.stringify(arg.frame));
    case 'text':
      return void server.handleText(now, arg.conn, Buffer.from(arg.data, 'utf8'));
    case 'textHex':
      return void server.handleText(now, arg.conn, hex(arg.hex));
    case 'binary':
      return void server.handleBinary(now, arg.conn, hex(arg.hex));
    case 'authResponse':
      return void server.handleAuthResponse(now, arg.conn, arg.status, Buffer.from(arg.body, 'utf8'));
    case 'authUnavailable':
      return void server.handleAuthUnavailable(now, arg.conn);
    case 'agentDelta':
      return void server.handleAgentDelta(now, arg.turn, arg.text);
    case 'agentText':
      return void server.handleAgentText(now, arg.turn, arg.text);
    case 'agentFinal':
      return void server.handleAgentFinal(now, arg.turn, arg.text ?? null);
    case 'agentError':
      return void server.handleAgentError(now, arg.turn, arg.error);
    case 'disconnect':
      return void server.handleDisconnect(now, arg.conn);
    case 'timeout':
      return void server.handleTimeout(now);
    case 'shutdown':
      return void server.handleShutdown(now);
    case 'approvePairing':
      return server.approvePairing(now, arg.code);
    case 'allowSender':
      return void server.allowSender(arg);
    case 'restoreDynamicAgent':
      return void server.restoreDynamicAgent(arg);
    case 'history':
      return void server.handleHistory(now, arg.request, arg.error ?? historyPage(arg.page));
    default:
      throw new Error(`unknown input ${input}`);
  }
}

test('the shared vectors exist', () => {
  assert.ok(files.length > 0, `no vectors in ${vectorDir}`);
});

/** The outputs since the last input, through either drain path. */
function outputs(server, mode) {
  if (mode === 'drain') return drain(server);
  return { transmits: server.pollTransmits(), events: server.pollEvents() };
}

for (const file of files) for (const mode of ['poll', 'drain']) {
  test(`vector ${file} (${mode})`, () => {
    const vector = JSON.parse(readFileSync(join(vectorDir, file), 'utf8'));
    const config = vector.config === undefined ? new Config() : new Config(JSON.stringify(vector.config));
    const server = new Server(config);
    vector.steps.forEach((step, index) => {
      const now = step.at ?? 0;
      const input = Object.keys(step).find((k) => !EXPECTATIONS.has(k));
      assert.ok(input, `step ${index} has no input`);
      let result;
      try {
        result = apply(server, input, step[input], now);
      } catch (err) {
        if (typeof err.code !== 'string' || !err.code.startsWith('unknown_')) throw err;
        result = `error:${err.code}`;
      }
      const where = `${file} step ${index} (${input} at ${now})`;
      const out = outputs(server, mode);
      const frames = out.transmits.map(renderTransmit);
      const events = out.events.map((e) => e.json);
      assert.deepEqual(frames, (step.frames ?? []).map((f) => JSON.stringify(f)), `${where}: frames`);
      assert.deepEqual(events, (step.events ?? []).map((e) => JSON.stringify(e)), `${where}: events`);
      if ('nextTimeout' in step) assert.equal(server.pollTimeout(), step.nextTimeout, `${where}: pollTimeout`);
      if ('result' in step) {
        const want = typeof step.result === 'string' ? step.result : JSON.stringify(step.result);
        assert.equal(result, want, `${where}: result`);
      } else if (typeof result === 'string' && result.startsWith('error:')) {
        assert.fail(`${where}: unexpected ${result}`);
      }
    });
  });
}
