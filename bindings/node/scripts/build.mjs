// Builds the native module (clawsocket.node) from the Rust sources with the local toolchain.
// `npm install` runs it. With @napi-rs/cli installed (a checkout's devDependencies) it also
// generates the TypeScript declarations; without it (installed as a dependency) plain cargo
// builds the same library.
//
//   node scripts/build.mjs                 release build
//   node scripts/build.mjs --debug         debug build
//   node scripts/build.mjs --update-types  also rewrite the committed index.d.ts
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const release = !args.has('--debug');
const updateTypes = args.has('--update-types');
const staging = join(root, '.build');
const output = join(root, 'clawsocket.node');

// rustup installs cargo here; npm's script shell may not have it on PATH.
const cargoBin = join(homedir(), '.cargo', 'bin');
const env = { ...process.env };
if (existsSync(cargoBin)) env.PATH = `${cargoBin}${delimiter}${env.PATH ?? ''}`;

function run(command, commandArgs) {
  const result = spawnSync(command, commandArgs, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) {
    const hint = result.error.code === 'ENOENT' ? ' (install the Rust toolchain: cargo must be on PATH)' : '';
    throw new Error(`clawsocket: cannot run ${command}${hint}: ${result.error.message}`);
  }
  if (result.status !== 0) throw new Error(`clawsocket: ${command} ${commandArgs.join(' ')} failed`);
  return result;
}

function napiCli() {
  try {
    const require = createRequire(join(root, 'package.json'));
    return join(dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js');
  } catch {
    return null;
  }
}

function install(from) {
  // Copy then rename: a running process never sees a half-written library.
  const tmp = `${output}.tmp`;
  copyFileSync(from, tmp);
  renameSync(tmp, output);
}

function buildWithNapi(cli) {
  const header = readFileSync(join(root, 'scripts', 'dts-header.d.ts'), 'utf8');
  const napiArgs = [cli, 'build', '--output-dir', staging, '--dts', 'index.d.ts', '--dts-header', header, '--no-const-enum'];
  if (release) napiArgs.push('--release');
  run(process.execPath, napiArgs);
  install(join(staging, 'clawsocket.node'));
  const generated = readFileSync(join(staging, 'index.d.ts'), 'utf8');
  const committed = join(root, 'index.d.ts');
  if (updateTypes || !existsSync(committed)) {
    copyFileSync(join(staging, 'index.d.ts'), committed);
  } else if (readFileSync(committed, 'utf8') !== generated) {
    console.warn('clawsocket: index.d.ts differs from the Rust sources; run `npm run update-types`');
  }
}

function buildWithCargo() {
  const cargoArgs = ['build', '--lib', '--message-format=json-render-diagnostics', '--manifest-path', join(root, 'Cargo.toml')];
  if (release) cargoArgs.push('--release');
  const result = spawnSync('cargo', cargoArgs, {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) throw new Error(`clawsocket: cannot run cargo (install the Rust toolchain): ${result.error.message}`);
  if (result.status !== 0) throw new Error('clawsocket: cargo build failed');
  let library = null;
  for (const line of result.stdout.toString('utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const message = JSON.parse(line);
    if (message.reason !== 'compiler-artifact' || message.target?.name !== 'clawsocket_node') continue;
    library = message.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) ?? library;
  }
  if (!library) throw new Error('clawsocket: cargo produced no clawsocket_node library');
  install(library);
}

mkdirSync(staging, { recursive: true });
const cli = napiCli();
if (cli) buildWithNapi(cli);
else buildWithCargo();
