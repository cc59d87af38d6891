// The deployment files (Dockerfile, its entrypoint, docker compose, Kubernetes, systemd) cannot
// run on a machine without Docker or Kubernetes, so this reads them: every option they pass must
// be one `opencmq server` accepts, and the API, peer and admin ports must agree across all of them.
// The entrypoint script is plain sh and runs here, against a stand-in for the CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { LIMITS } from '../../src/protocol/limits';
import { DEFAULT_PORT, SERVER_EXIT } from '../../src/node/server-options';

const ROOT = ((): string => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'Dockerfile'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`repository root (with a Dockerfile) not found above ${__dirname}`);
  }
})();
const CLI_MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

const FILES = {
  dockerfile: 'Dockerfile',
  entrypoint: 'deploy/docker/entrypoint.sh',
  compose: 'deploy/docker-compose.yml',
  k8sDir: 'deploy/k8s',
  unit: 'deploy/systemd/opencmq.service',
  config: 'deploy/systemd/opencmq.json',
} as const;

/** Where the volume is mounted in the image, and the state directory of the systemd unit. */
const VOLUME = '/var/lib/opencmq';

function read(rel: string): string {
  return fs.readFileSync(path.join(ROOT, rel), 'utf8');
}

// ---- what `opencmq server` accepts ----

interface ServerHelp {
  options: Set<string>;
  /** Environment variables the server reads itself ("default $OPENCMQ_..."). */
  env: Set<string>;
}

let helpCache: ServerHelp | undefined;
function serverHelp(): ServerHelp {
  if (helpCache) return helpCache;
  const r = spawnSync(process.execPath, [CLI_MAIN, 'server', '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `opencmq server --help failed: ${r.stderr}`);
  // The server's own section ends where the options every command takes begin.
  const own = r.stdout.split(/^Global options:$/m)[0] ?? '';
  const options = new Set([...own.matchAll(/^ {2}(?:-\w, )?--([a-z0-9][a-z0-9-]*)/gm)].map((m) => m[1]!));
  const env = new Set([...own.matchAll(/\$(OPENCMQ_[A-Z_]+)/g)].map((m) => m[1]!));
  assert.ok(options.has('data-dir') && options.has('config'), `unexpected help text:\n${r.stdout}`);
  helpCache = { options, env };
  return helpCache;
}

// ---- the files, parsed ----

interface DockerInstr {
  op: string;
  args: string;
}

function dockerfile(): DockerInstr[] {
  const joined = read(FILES.dockerfile).replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l);
      assert.ok(m, `Dockerfile line not understood: ${l}`);
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
}

/** The runtime (last) stage's instructions. */
function runtimeStage(): DockerInstr[] {
  const all = dockerfile();
  const lastFrom = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(lastFrom);
}

function dockerEnv(stage: DockerInstr[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return env;
}

interface Entrypoint {
  /** OPENCMQ_* variable -> the option it becomes. */
  envToOption: Map<string, string>;
  options: Set<string>;
  env: Set<string>;
  defaultRaftPort: number;
}

function entrypoint(): Entrypoint {
  const code = read(FILES.entrypoint)
    .split('\n')
    .filter((l) => !l.trim().startsWith('#'))
    .join('\n');
  const envToOption = new Map<string, string>();
  for (const m of code.matchAll(/^\s*flag ([a-z0-9-]+) "\$\{?(OPENCMQ_[A-Z_]+)/gm)) envToOption.set(m[2]!, m[1]!);
  if (/\bflag peer\b/.test(code) && code.includes('OPENCMQ_PEERS')) envToOption.set('OPENCMQ_PEERS', 'peer');
  const options = new Set([...code.matchAll(/\bflag(?:_on)? ([a-z0-9-]+)/g)].map((m) => m[1]!));
  const env = new Set([...code.matchAll(/\$\{?(OPENCMQ_[A-Z_]+)/g)].map((m) => m[1]!));
  const raft = /flag raft-port "\$\{OPENCMQ_RAFT_PORT:-(\d+)\}"/.exec(code);
  assert.ok(raft, 'the entrypoint gives --raft-port a default');
  return { envToOption, options, env, defaultRaftPort: Number(raft[1]) };
}

type Yaml = Record<string, unknown>;

function compose(): Record<string, Yaml> & { __root: Yaml } {
  const doc = parseYaml(read(FILES.compose), { merge: true }) as Yaml;
  return Object.assign({}, doc['services'] as Record<string, Yaml>, { __root: doc });
}

function k8sDocs(): Yaml[] {
  const dir = path.join(ROOT, FILES.k8sDir);
  const docs: Yaml[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    for (const d of parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))) {
      assert.deepEqual(d.errors, [], `${f}: YAML errors`);
      const v = d.toJS() as Yaml | null;
      if (v) docs.push(v);
    }
  }
  return docs;
}

function k8sKind(kind: string): Yaml[] {
  return k8sDocs().filter((d) => d['kind'] === kind);
}

function unitFile(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of read(FILES.unit).split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

function unitValue(unit: Map<string, string[]>, key: string): string {
  const v = unit.get(key);
  assert.ok(v && v.length === 1, `${FILES.unit}: exactly one ${key}=`);
  return v[0]!;
}

function exampleConfig(): Record<string, unknown> {
  return JSON.parse(read(FILES.config)) as Record<string, unknown>;
}

function optionTokens(words: unknown): string[] {
  const list = Array.isArray(words) ? words.map(String) : typeof words === 'string' ? words.split(/\s+/) : [];
  return list.filter((w) => w.startsWith('--')).map((w) => w.slice(2).split('=')[0]!);
}

/** "60s", "1m30s", 60 -> seconds */
function seconds(v: unknown): number {
  if (typeof v === 'number') return v;
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(String(v));
  assert.ok(m && (m[1] ?? m[2]) !== undefined, `not a duration: ${String(v)}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
}

function parsePeers(list: string): Array<{ id: string; host: string; port: number }> {
  return list
    .split(/[\s,]+/)
    .filter((p) => p !== '')
    .map((p) => {
      const m = /^([^=]+)=(.+):(\d+)$/.exec(p);
      assert.ok(m, `peer entry ${p} is not ID=HOST:PORT`);
      return { id: m[1]!, host: m[2]!, port: Number(m[3]) };
    });
}

function k8sContainer(): { sts: Yaml; pod: Yaml; c: Yaml } {
  const [sts, ...more] = k8sKind('StatefulSet');
  assert.ok(sts && more.length === 0, 'one StatefulSet');
  const pod = ((sts['spec'] as Yaml)['template'] as Yaml)['spec'] as Yaml;
  const containers = pod['containers'] as Yaml[];
  assert.equal(containers.length, 1);
  return { sts, pod, c: containers[0]! };
}

function k8sEnv(c: Yaml): Map<string, Yaml> {
  return new Map(((c['env'] as Yaml[] | undefined) ?? []).map((e) => [String(e['name']), e]));
}

// ---- the ports every file must agree on, from the image ----

interface Ports {
  api: number;
  peer: number;
  admin: number;
}

function imagePorts(): Ports {
  const env = dockerEnv(runtimeStage());
  return { api: Number(env['OPENCMQ_PORT']), admin: Number(env['OPENCMQ_ADMIN_PORT']), peer: entrypoint().defaultRaftPort };
}

// ---- options ----

void test('every option the deployment files pass is one `opencmq server --help` lists', () => {
  const help = serverHelp();
  const ep = entrypoint();
  const passed: Array<{ file: string; option: string }> = [];
  const add = (file: string, opts: Iterable<string>): void => {
    for (const option of opts) passed.push({ file, option });
  };
  add(FILES.entrypoint, ep.options);
  for (const i of runtimeStage().filter((x) => x.op === 'CMD' || x.op === 'ENTRYPOINT')) add(FILES.dockerfile, optionTokens(JSON.parse(i.args)));
  const services = compose();
  for (const [name, svc] of Object.entries(services)) {
    if (name !== '__root') add(`${FILES.compose} (${name})`, optionTokens(svc['command']));
  }
  const { c } = k8sContainer();
  add(FILES.k8sDir, [...optionTokens(c['command']), ...optionTokens(c['args'])]);
  const exec = unitValue(unitFile(), 'ExecStart');
  add(`${FILES.unit} ExecStart`, optionTokens(exec.split(/\s+server\s+/)[1] ?? ''));
  add(FILES.config, Object.keys(exampleConfig()));

  const missing = passed.filter((p) => !help.options.has(p.option));
  assert.deepEqual(
    missing.map((p) => `${p.file}: --${p.option}`),
    [],
    `options not listed by \`opencmq server --help\`: ${[...new Set(missing.map((p) => `--${p.option}`))].join(', ')}`,
  );
});

void test('every OPENCMQ_* variable the files set is read by the entrypoint or by the server', () => {
  const known = new Set([...entrypoint().env, ...serverHelp().env]);
  const set: Array<{ file: string; name: string }> = [];
  for (const name of Object.keys(dockerEnv(runtimeStage()))) set.push({ file: FILES.dockerfile, name });
  for (const [svcName, svc] of Object.entries(compose())) {
    if (svcName === '__root') continue;
    for (const name of Object.keys((svc['environment'] as Yaml | undefined) ?? {})) set.push({ file: `${FILES.compose} (${svcName})`, name });
  }
  for (const name of k8sEnv(k8sContainer().c).keys()) set.push({ file: FILES.k8sDir, name });
  for (const line of read('deploy/systemd/opencmq.env.example').split('\n')) {
    const m = /^([A-Z_]+)=/.exec(line);
    if (m) set.push({ file: 'deploy/systemd/opencmq.env.example', name: m[1]! });
  }
  for (const line of read('deploy/opencmq.env.example').split('\n')) {
    const m = /^([A-Z_]+)=/.exec(line);
    if (m) set.push({ file: 'deploy/opencmq.env.example', name: m[1]! });
  }
  const unknown = set.filter((s) => s.name.startsWith('OPENCMQ_') && !known.has(s.name)).map((s) => `${s.file}: ${s.name}`);
  assert.deepEqual(unknown, [], 'variables nothing reads');
  // (The options the entrypoint makes of them are checked with its other options above.)
  assert.ok(entrypoint().envToOption.size > 0);
});

// ---- ports and the rest of the wiring ----

void test('Dockerfile: the API default, EXPOSE, the health check and a non-root user with a data volume', () => {
  const stage = runtimeStage();
  const p = imagePorts();
  assert.equal(p.api, DEFAULT_PORT, 'the image serves the API on the server default port');
  assert.ok(p.admin > 0 && p.peer > 0);
  const exposed = stage.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map((x) => Number(x.split('/')[0])));
  assert.deepEqual([...exposed].sort(), [p.api, p.peer, p.admin].sort(), 'EXPOSE lists the API, peer and admin ports');
  const health = stage.find((i) => i.op === 'HEALTHCHECK');
  assert.ok(health, 'a HEALTHCHECK');
  assert.match(health.args, /\/readyz/);
  assert.match(health.args, new RegExp(`OPENCMQ_ADMIN_PORT \\|\\| ${p.admin}\\b`), 'the health check falls back to the admin port');
  const user = stage.find((i) => i.op === 'USER');
  assert.ok(user && !/^(root|0)$/.test(user.args), 'runs as a non-root user');
  assert.ok(stage.some((i) => i.op === 'VOLUME' && i.args.includes(VOLUME)), `a volume at ${VOLUME}`);
  const env = dockerEnv(stage);
  assert.ok(env['OPENCMQ_DATA_DIR']?.startsWith(`${VOLUME}/`), 'the data directory is on the volume');
  assert.match(stage.find((i) => i.op === 'ENTRYPOINT')?.args ?? '', /opencmq-entrypoint/);
  // The native addon is compiled in a stage with a toolchain; the runtime stage installs none.
  const all = dockerfile();
  assert.ok(all.some((i) => i.op === 'RUN' && /npm ci\b/.test(i.args) && !/--omit=dev/.test(i.args)), 'build stage: npm ci');
  assert.ok(all.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)), 'build stage: npm run build');
  assert.ok(all.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args)), 'production dependencies only');
  assert.ok(!stage.some((i) => i.op === 'RUN' && /g\+\+|npm (ci|install)/.test(i.args)), 'the runtime stage compiles and installs nothing');
  assert.ok(stage.some((i) => i.op === 'COPY' && /--from=prod-deps .*node_modules/.test(i.args)), 'node_modules (with fs-ext built) comes from the dependency stage');
  assert.ok(stage.some((i) => i.op === 'COPY' && /--from=build .*dist\/src/.test(i.args)), 'the compiled server comes from the build stage');
});

void test('.dockerignore keeps node_modules, dist and the git directory out of the build context', () => {
  const lines = new Set(read('.dockerignore').split('\n').map((l) => l.trim()));
  for (const p of ['node_modules', 'dist', '.git']) assert.ok(lines.has(p), `.dockerignore lists ${p}`);
  for (const p of ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'deploy/docker', FILES.entrypoint]) assert.ok(!lines.has(p), `.dockerignore must not drop ${p}`);
  // Every file the Dockerfile copies from the context exists and is not ignored.
  const ignored = [...lines].filter((l) => l !== '' && !l.startsWith('#'));
  for (const i of dockerfile().filter((x) => x.op === 'COPY' && !x.args.includes('--from='))) {
    const sources = i.args.split(/\s+/).slice(0, -1);
    for (const src of sources.filter((x) => x !== '.')) {
      assert.ok(fs.existsSync(path.join(ROOT, src)), `COPY ${src}: no such file`);
      assert.ok(!ignored.some((g) => src === g || src.startsWith(`${g}/`)), `COPY ${src}: excluded by .dockerignore`);
    }
  }
});

void test('compose: three members with their own volumes, the same ports, all peers, the secret and health checks', () => {
  const p = imagePorts();
  const { __root: root, ...services } = compose();
  const names = Object.keys(services).sort();
  assert.equal(names.length, 3);
  const ids: string[] = [];
  const volumes: string[] = [];
  let grace: number | undefined;
  for (const name of names) {
    const svc = services[name]!;
    const env = svc['environment'] as Record<string, string>;
    const where = `${FILES.compose} ${name}`;
    assert.equal(Number(env['OPENCMQ_PORT']), p.api, `${where}: OPENCMQ_PORT`);
    assert.equal(Number(env['OPENCMQ_ADMIN_PORT']), p.admin, `${where}: OPENCMQ_ADMIN_PORT`);
    assert.equal(Number(env['OPENCMQ_RAFT_PORT']), p.peer, `${where}: OPENCMQ_RAFT_PORT`);
    assert.ok(env['OPENCMQ_DATA_DIR']?.startsWith(`${VOLUME}/`), `${where}: data dir on the volume`);
    ids.push(String(env['OPENCMQ_NODE_ID']));
    assert.equal(env['OPENCMQ_NODE_ID'], name, `${where}: node id is the service name (the peers' host)`);
    const peers = parsePeers(env['OPENCMQ_PEERS'] ?? '');
    assert.deepEqual(peers.map((x) => x.id).sort(), names, `${where}: every member is a peer`);
    for (const peer of peers) {
      assert.equal(peer.host, peer.id, `${where}: peer ${peer.id} is reached by its service name`);
      assert.equal(peer.port, p.peer, `${where}: peer ${peer.id} port`);
    }
    const published = (svc['ports'] as string[]).map((x) => Number(String(x).split(':').pop()));
    assert.deepEqual(published, [p.api], `${where}: publishes the API port`);
    const test = (svc['healthcheck'] as Yaml)['test'] as string[];
    assert.match(test.join(' '), new RegExp(`:${p.admin}/readyz`), `${where}: health check on the admin listener`);
    const mounts = (svc['volumes'] as string[]).filter((v) => v.endsWith(`:${VOLUME}`));
    assert.equal(mounts.length, 1, `${where}: mounts a volume at ${VOLUME}`);
    volumes.push(mounts[0]!.split(':')[0]!);
    const secretFile = env['OPENCMQ_CLUSTER_SECRET_FILE'] ?? '';
    const secretName = /^\/run\/secrets\/(.+)$/.exec(secretFile)?.[1];
    assert.ok(secretName && (svc['secrets'] as string[]).includes(secretName), `${where}: cluster secret from a compose secret`);
    assert.ok((root['secrets'] as Yaml)[secretName], `${where}: secret ${secretName} is defined`);
    const g = seconds(svc['stop_grace_period']);
    grace ??= g;
    assert.equal(g, grace);
  }
  assert.equal(new Set(ids).size, 3, 'distinct node ids');
  assert.equal(new Set(volumes).size, 3, 'a volume per member');
  assert.equal(grace, stopGraceSeconds(), 'stop grace period');
});

/** The stop timeout of the systemd unit, which the compose and Kubernetes files must match. */
function stopGraceSeconds(): number {
  const s = Number(unitValue(unitFile(), 'TimeoutStopSec'));
  // A leader waits up to 2 s to hand over, then finishes writes, snapshots and drains connections.
  assert.ok(s >= 30, `TimeoutStopSec=${s} leaves too little time for the hand-off and the shutdown snapshot`);
  return s;
}

void test('Kubernetes: StatefulSet of three named by pod, both Services, probes, disruption budget, volumes, secret', () => {
  const p = imagePorts();
  const { sts, pod, c } = k8sContainer();
  const spec = sts['spec'] as Yaml;
  const stsName = String((sts['metadata'] as Yaml)['name']);
  const replicas = Number(spec['replicas']);
  assert.equal(replicas, 3);
  assert.equal(spec['podManagementPolicy'], 'Parallel', 'members must start together to elect a leader');
  const labels = ((spec['template'] as Yaml)['metadata'] as Yaml)['labels'] as Record<string, string>;
  assert.deepEqual((spec['selector'] as Yaml)['matchLabels'], labels);

  const containerPorts = new Map(((c['ports'] as Yaml[]) ?? []).map((x) => [String(x['name']), Number(x['containerPort'])]));
  assert.deepEqual(Object.fromEntries(containerPorts), { api: p.api, peer: p.peer, admin: p.admin });
  const env = k8sEnv(c);
  const value = (n: string): string => String(env.get(n)?.['value']);
  assert.equal(Number(value('OPENCMQ_PORT')), p.api);
  assert.equal(Number(value('OPENCMQ_RAFT_PORT')), p.peer);
  assert.equal(Number(value('OPENCMQ_ADMIN_PORT')), p.admin);
  assert.equal(value('OPENCMQ_ADMIN_HOST'), '0.0.0.0', 'the kubelet probes the pod address');
  assert.deepEqual(env.get('OPENCMQ_NODE_ID')?.['valueFrom'], { fieldRef: { fieldPath: 'metadata.name' } }, 'node id is the pod name');
  const serviceName = String(spec['serviceName']);
  const peers = parsePeers(value('OPENCMQ_PEERS'));
  assert.deepEqual(
    peers.map((x) => `${x.id}=${x.host}:${x.port}`),
    Array.from({ length: replicas }, (_, i) => `${stsName}-${i}=${stsName}-${i}.${serviceName}:${p.peer}`),
    'every member, by its stable name under the headless Service',
  );
  const secretRef = (env.get('OPENCMQ_CLUSTER_SECRET')?.['valueFrom'] as Yaml | undefined)?.['secretKeyRef'] as Yaml | undefined;
  assert.ok(secretRef?.['name'] && secretRef['key'], 'cluster secret from a Secret');
  assert.ok(value('OPENCMQ_DATA_DIR').startsWith(`${VOLUME}/`));

  const probe = (k: string): Yaml => (c[k] as Yaml)['httpGet'] as Yaml;
  assert.deepEqual(probe('readinessProbe'), { path: '/readyz', port: 'admin' });
  assert.deepEqual(probe('livenessProbe'), { path: '/healthz', port: 'admin' });
  assert.equal(pod['terminationGracePeriodSeconds'], stopGraceSeconds());
  const sc = pod['securityContext'] as Yaml;
  assert.equal(sc['runAsNonRoot'], true);

  const claims = (spec['volumeClaimTemplates'] as Yaml[]).map((v) => String((v['metadata'] as Yaml)['name']));
  const mounts = (c['volumeMounts'] as Yaml[]).filter((m) => m['mountPath'] === VOLUME);
  assert.equal(mounts.length, 1);
  assert.ok(claims.includes(String(mounts[0]!['name'])), 'the data volume is a claim per member');

  const services = k8sKind('Service');
  const headless = services.find((s) => (s['metadata'] as Yaml)['name'] === serviceName);
  assert.ok(headless, `the headless Service ${serviceName}`);
  const hs = headless['spec'] as Yaml;
  assert.equal(hs['clusterIP'], 'None');
  assert.equal(hs['publishNotReadyAddresses'], true, 'peers must resolve before any member is ready');
  const client = services.find((s) => s !== headless);
  assert.ok(client, 'a client Service');
  for (const s of services) {
    const ss = s['spec'] as Yaml;
    assert.deepEqual(ss['selector'], labels, 'Service selects the members');
    for (const sp of ss['ports'] as Yaml[]) {
      const target = containerPorts.get(String(sp['targetPort']));
      assert.ok(target !== undefined, `Service port ${String(sp['name'])} targets a named container port`);
      assert.equal(Number(sp['port']), target, `Service port ${String(sp['name'])}`);
    }
  }
  assert.ok(((client['spec'] as Yaml)['ports'] as Yaml[]).some((x) => x['targetPort'] === 'api'), 'the client Service serves the API');
  assert.ok(((hs['ports'] as Yaml[]) ?? []).some((x) => x['targetPort'] === 'peer'), 'the headless Service names the peer port');

  const [pdb] = k8sKind('PodDisruptionBudget');
  assert.ok(pdb);
  const ps = pdb['spec'] as Yaml;
  assert.equal(ps['maxUnavailable'], 1);
  assert.deepEqual((ps['selector'] as Yaml)['matchLabels'], labels);
});

void test('systemd: user, state directory, restart policy, file limit, stop timeout and the example config', () => {
  const p = imagePorts();
  const unit = unitFile();
  assert.equal(unitValue(unit, 'User'), 'opencmq');
  assert.equal(unitValue(unit, 'StateDirectory'), path.basename(VOLUME));
  assert.equal(unitValue(unit, 'Restart'), 'on-failure');
  const noRestart = unitValue(unit, 'RestartPreventExitStatus').split(/\s+/).map(Number);
  assert.ok(noRestart.includes(SERVER_EXIT.dataDirUnusable), 'an unusable data directory is not restarted');
  assert.ok(!noRestart.includes(SERVER_EXIT.dataDirInUse), 'a held lock is worth retrying');
  const nofile = Number(unitValue(unit, 'LimitNOFILE'));
  assert.ok(nofile >= LIMITS.httpConnectionsMax + 1024, `LimitNOFILE=${nofile} must cover ${LIMITS.httpConnectionsMax} client connections and the server's own files`);
  stopGraceSeconds();
  const exec = unitValue(unit, 'ExecStart');
  const config = /--config\s+(\S+)/.exec(exec)?.[1];
  assert.equal(config, `/etc/${unitValue(unit, 'ConfigurationDirectory')}/opencmq.json`, 'ExecStart reads the config file');

  const cfg = exampleConfig();
  assert.equal(Number(cfg['port']), p.api);
  assert.equal(Number(cfg['admin-port']), p.admin);
  assert.equal(Number(cfg['raft-port']), p.peer);
  assert.ok(String(cfg['data-dir']).startsWith(`${VOLUME}/`), 'the data directory is in the state directory');
  const peers = parsePeers((cfg['peer'] as string[]).join(','));
  assert.equal(peers.length, 2);
  for (const peer of peers) assert.equal(peer.port, p.peer);
  assert.ok(!peers.some((x) => x.id === cfg['node-id']));
});

// ---- the entrypoint script, run ----

function runEntrypoint(args: string[], env: Record<string, string>): { argv: string[]; clusterSecret: string | null } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opencmq-entry-'));
  try {
    const fake = path.join(dir, 'main.js');
    fs.writeFileSync(fake, 'console.log(JSON.stringify({ argv: process.argv.slice(2), clusterSecret: process.env.OPENCMQ_CLUSTER_SECRET ?? null }));\n');
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENCMQ_')));
    const r = spawnSync('sh', [path.join(ROOT, FILES.entrypoint), ...args], {
      encoding: 'utf8',
      env: { ...clean, ...env, OPENCMQ_MAIN: fake },
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { argv: string[]; clusterSecret: string | null };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void test('entrypoint: variables become server options, this node is dropped from the peers, explicit arguments win', () => {
  const out = runEntrypoint(['--port', '9999', '--no-fsync'], {
    OPENCMQ_DATA_DIR: '/var/lib/opencmq/data dir',
    OPENCMQ_PORT: '9600',
    OPENCMQ_HOST: '',
    OPENCMQ_NODE_ID: 'opencmq-1',
    OPENCMQ_PEERS: 'opencmq-0=opencmq-0.opencmq-peers:9700,opencmq-1=opencmq-1.opencmq-peers:9700 opencmq-2=opencmq-2.opencmq-peers:9700',
  });
  assert.deepEqual(out.argv, [
    'server',
    '--data-dir',
    '/var/lib/opencmq/data dir',
    '--port',
    '9600',
    '--node-id',
    'opencmq-1',
    '--raft-port',
    '9700',
    '--peer',
    'opencmq-0=opencmq-0.opencmq-peers:9700',
    '--peer',
    'opencmq-2=opencmq-2.opencmq-peers:9700',
    '--port',
    '9999',
    '--no-fsync',
  ]);
});

void test('entrypoint: the cluster secret is read from OPENCMQ_CLUSTER_SECRET_FILE; other commands pass through', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opencmq-secret-'));
  try {
    const file = path.join(dir, 'cluster_secret');
    fs.writeFileSync(file, 'a-long-shared-cluster-secret\n');
    const out = runEntrypoint([], { OPENCMQ_CLUSTER_SECRET_FILE: file });
    assert.deepEqual(out.argv, ['server']);
    assert.equal(out.clusterSecret, 'a-long-shared-cluster-secret');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(runEntrypoint(['wal', 'verify', '/var/lib/opencmq/data'], { OPENCMQ_NODE_ID: 'n1' }).argv, ['wal', 'verify', '/var/lib/opencmq/data']);
});

void test('entrypoint: a JOIN file beside a missing data directory starts the member with --join, not once the directory exists', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opencmq-join-'));
  try {
    const env = { OPENCMQ_DATA_DIR: path.join(dir, 'data'), OPENCMQ_NODE_ID: 'n3', OPENCMQ_PEERS: 'n1=a:9700,n2=b:9700,n3=c:9700' };
    assert.ok(!runEntrypoint([], env).argv.includes('--join'), 'no JOIN file: an ordinary start');
    fs.writeFileSync(path.join(dir, 'JOIN'), '');
    assert.ok(runEntrypoint([], env).argv.includes('--join'), 'JOIN file and no data directory: wait to be added');
    fs.mkdirSync(path.join(dir, 'data'));
    assert.ok(!runEntrypoint([], env).argv.includes('--join'), 'the data directory exists again: an ordinary start');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
