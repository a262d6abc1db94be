// Packaging: CommonJS and ESM entries share one native module, the committed index.d.ts
// matches the Rust sources, the TypeScript example type-checks, and errors carry codes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esm from 'clawsocket';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

test('CommonJS and ESM expose the same objects', () => {
  const cjs = require('clawsocket');
  for (const name of ['Server', 'Client', 'Config', 'serve', 'connect', 'ChatClient', 'buildSend', 'errorCodes']) {
    assert.equal(typeof cjs[name], 'function', name);
    assert.equal(esm[name], cjs[name], name);
  }
  assert.equal(esm.PROTOCOL_VERSION, 2);
  assert.equal(esm.CLOSE_AUTH, 4401);
  assert.ok(esm.errorCodes().includes('invalid_json'));
});

test('usage errors carry the core code', () => {
  const server = new esm.Server(new esm.Config({ auth: { enabled: false } }));
  assert.throws(() => server.handleText(0, 42, 'x'), { code: 'unknown_connection' });
  assert.throws(() => server.handleAgentDelta(0, 7, 'x'), { code: 'unknown_turn' });
  assert.throws(() => server.handleHistory(0, 3, 'none'), { code: 'unknown_request' });
  assert.throws(() => new esm.Config({ auth: { timeout: 'soon' } }), (err) => err.code === 'invalid_config' && /auth\.timeout/.test(err.message));
});

test('config: seed file shape, env overrides', () => {
  const config = new esm.Config({ channels: { websocket: { port: 18900, path: '/chat', auth: { enabled: false } } } });
  assert.equal(config.port, 18900);
  assert.equal(config.path, '/chat');
  assert.equal(config.authEnabled, false);
  config.applyEnv('true', 'http://127.0.0.1:3000/verify');
  assert.equal(config.authEnabled, true);
  assert.equal(config.authEndpoint, 'http://127.0.0.1:3000/verify');
  assert.throws(() => config.applyEnv('maybe'), { code: 'invalid_config' });
});

test('buildSend writes the seed frame', () => {
  assert.equal(
    esm.buildSend('m1', { content: 'Hi', groupId: 'g', customData: { k: 'v' } }),
    '{"type":"chat.send","content":"Hi","messageId":"m1","chatType":"group","groupId":"g","customData":{"k":"v"}}',
  );
});

test('index.d.ts is what the Rust sources generate (no drift)', () => {
  const generated = join(root, '.build', 'index.d.ts');
  assert.ok(existsSync(generated), 'run the build first (npm install / npm run build) so .build/index.d.ts exists');
  assert.equal(
    readFileSync(join(root, 'index.d.ts'), 'utf8'),
    readFileSync(generated, 'utf8'),
    'index.d.ts is stale: run `npm run update-types` and commit it',
  );
});

test('the TypeScript example type-checks (tsc --noEmit)', () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'pipe' });
});
