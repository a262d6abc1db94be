// The examples run: the ten-line agent server, the client against it, and the TypeScript one.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

test('examples/agent-server.mjs serves examples/client.mjs', async () => {
  const server = spawn(process.execPath, [join(root, 'examples', 'agent-server.mjs')], {
    cwd: root,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let output = '';
    while (!/ws:\/\/\S+/.test(output)) {
      const [chunk] = await once(server.stdout, 'data');
      output += chunk;
    }
    const url = /ws:\/\/\S+/.exec(output)[0];
    const { stdout } = await run(process.execPath, [join(root, 'examples', 'client.mjs'), url, 'Hello there'], { cwd: root });
    assert.match(stdout, /^You said: Hello there \nfinal: You said: Hello there \n$/);
  } finally {
    server.kill();
  }
});

test('examples/typed-agent.mts runs (after type stripping by tsc)', async () => {
  // Node 20 cannot run TypeScript itself: transpile to a temporary .mjs beside the example.
  const ts = (await import('typescript')).default;
  const { readFileSync, writeFileSync, rmSync } = await import('node:fs');
  const source = readFileSync(join(root, 'examples', 'typed-agent.mts'), 'utf8');
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const out = join(root, 'examples', '.typed-agent.test.mjs');
  writeFileSync(out, js.outputText);
  try {
    const { stdout } = await run(process.execPath, [out], { cwd: root });
    assert.match(stdout, /Hello ts-user, you said: typed hello/);
    assert.match(stdout, /: Hello ts-user, you said: typed hello \(connections: 1\)\n$/);
  } finally {
    rmSync(out, { force: true });
  }
});
