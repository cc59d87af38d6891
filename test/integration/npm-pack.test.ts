// What `npm pack` ships must run on its own: the tarball holds the built JavaScript (prepack) and
// nothing of the tests, benchmarks or examples; installed into an empty project (the native fs-ext
// compiled there), its `opencmq` command starts a server that a client of the same package can
// send to and receive from.
//
// The install takes packages from the npm cache and asks the npm registry only for what the cache
// lacks (--prefer-offline). node-gyp compiles fs-ext against the headers installed with this Node
// when they are there, so nothing is fetched from outside the registry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };

/** The environment of npm and of the installed CLI: no test-runner or credential variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENCMQ_') && !k.startsWith('NODE_TEST')) env[k] = v;
  // Headers next to this Node (official builds and distro packages ship them): node-gyp would
  // otherwise download them from nodejs.org.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (env.npm_config_nodedir === undefined && fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) env.npm_config_nodedir = prefix;
  return env;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: timeoutMs });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Starts `opencmq server --json` and resolves with its URL once it listens. */
function startServer(bin: string, dataDir: string): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const child = spawn(bin, ['server', '--data-dir', dataDir, '--port', '0', '--json'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  return new Promise((resolve, reject) => {
    // The start-up JSON is on stdout; stderr carries the log (JSON records too, off a terminal).
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      stdout += c.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{') && l.includes('"url"'));
      if (line) resolve({ url: (JSON.parse(line) as { url: string }).url, stop });
    });
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${out}`)));
  });
}

void test('npm pack: the tarball installs into an empty project and its server and client work', { timeout: 900_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opencmq-pack-'));
  let stopServer: (() => Promise<number | null>) | undefined;
  try {
    // Packed from a copy without dist/: prepack must compile, or the tarball holds no JavaScript.
    // (The copy also keeps the build from touching this checkout's dist/ while tests run from it.)
    const checkout = path.join(tmp, 'checkout');
    fs.mkdirSync(checkout);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'src', 'deploy']) {
      fs.cpSync(path.join(ROOT, f), path.join(checkout, f), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'), 'dir');
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], checkout, 300_000).stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed[0]!.files.map((f) => f.path);
    const tarball = path.join(tmp, packed[0]!.filename);
    assert.ok(fs.existsSync(tarball));

    const bin = PKG.bin['opencmq']!;
    assert.ok(files.includes(bin), `the tarball holds the CLI ${bin}`);
    assert.ok(files.includes('dist/src/client/index.js') && files.includes('dist/src/client/index.d.ts'), 'the client library and its types');
    assert.ok(files.includes('README.md'));
    const shipped = /^(package\.json|README\.md|dist\/src\/.+\.(js|d\.ts)|deploy\/systemd\/[^/]+)$/;
    assert.deepEqual(files.filter((f) => !shipped.test(f)), [], 'nothing but the built server and client, the README and the systemd files');
    assert.ok(!files.some((f) => /(^|\/)(test|bench|examples)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no tests, benchmarks, examples or TypeScript sources');

    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    // fs-ext compiles at install time; the project that installs opencmq allows its build script.
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'pack-check', private: true, allowScripts: { 'fs-ext': true } }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app, 600_000);
    const installed = path.join(app, 'node_modules', PKG.name);
    assert.ok(fs.existsSync(path.join(app, 'node_modules', 'fs-ext', 'build', 'Release', 'fs_ext.node')), 'fs-ext was compiled');

    const help = run('npx', ['--no', '--', 'opencmq', '--help'], app, 60_000).stdout;
    assert.match(help, /^usage: opencmq <command>/m);
    assert.match(help, /^\s+server\s/m);
    // The version, where the CLI has the flag, is the package's.
    if (/--version\b/.test(help)) assert.match(run('npx', ['--no', '--', 'opencmq', '--version'], app, 60_000).stdout, new RegExp(PKG.version.replaceAll('.', '\\.')));

    fs.mkdirSync(path.join(tmp, 'state'));
    const server = await startServer(path.join(app, 'node_modules', '.bin', 'opencmq'), path.join(tmp, 'state', 'data'));
    stopServer = server.stop;
    const cli = (...args: string[]): string => run('npx', ['--no', '--', 'opencmq', '--endpoint', server.url, ...args], app, 60_000).stdout;
    cli('queue', 'create', 'packed');
    // The library entry point (package.json "main") of the installed package sends ...
    const sendScript = `require(${JSON.stringify(PKG.name)}); const { CmqClient } = require(${JSON.stringify(PKG.name)});
      new CmqClient({ endpoint: process.argv[1] }).sendMessage('packed', 'sent through the installed package')
        .then((id) => console.log(id), (err) => { console.error(err); process.exit(1); });`;
    assert.match(run(process.execPath, ['-e', sendScript, server.url], app, 60_000).stdout, /\S/);
    // ... and the installed CLI receives.
    const got = JSON.parse(cli('receive', 'packed', '--wait', '5', '--delete', '--json')) as unknown;
    assert.match(JSON.stringify(got), /sent through the installed package/);
    assert.ok(fs.realpathSync(path.join(app, 'node_modules', '.bin', 'opencmq')).startsWith(fs.realpathSync(installed)), 'the command is the installed package');

    stopServer = undefined;
    assert.equal(await server.stop(), 0, 'the server stops cleanly on SIGTERM');
  } finally {
    await stopServer?.();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
