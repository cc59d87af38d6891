// The dependency direction of ARCHITECTURE-GUIDE §2, enforced: pure layers import nothing that
// does I/O, read no clock and draw no randomness; client/ and cli/ see the server only through
// protocol/ (and, for `opencmq server` and `opencmq wal`, the CLI's lazy imports of node/server and node/wal-tools, and the server's options type).
// The service layer speaks no client protocol: it, the broker and the node never see CMQ codes.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const SRC = path.join(__dirname, '..', '..', '..', 'src');

/** For each layer, the other src/ layers it may import. */
const ALLOWED: Record<string, string[]> = {
  protocol: [],
  runtime: [],
  raft: [],
  broker: ['protocol'],
  controller: ['protocol'],
  storage: ['protocol', 'runtime'],
  transport: ['protocol', 'runtime'],
  service: ['protocol', 'broker', 'runtime'],
  api: ['protocol', 'broker', 'service'],
  node: ['protocol', 'runtime', 'broker', 'controller', 'storage', 'api', 'raft', 'transport', 'service'],
  client: ['protocol'],
  cli: ['protocol', 'client'],
};
const PURE = new Set(['protocol', 'raft', 'broker', 'controller']);
const IO_MODULES = /^(node:)?(fs|fs\/promises|net|http|https|dgram|child_process|crypto|worker_threads|cluster|os|tls)$/;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...tsFiles(full));
    else if (name.endsWith('.ts')) out.push(full);
  }
  return out;
}

function imports(source: string): { spec: string; lazy: boolean }[] {
  const out: { spec: string; lazy: boolean }[] = [];
  for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s+['"]([^'"]+)['"]/g)) out.push({ spec: m[1]!, lazy: false });
  for (const m of source.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) out.push({ spec: m[1]!, lazy: false });
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1]!, lazy: true });
  for (const m of source.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1]!, lazy: false });
  return out;
}

test('layers import only what the architecture allows', () => {
  const violations: string[] = [];
  for (const layer of Object.keys(ALLOWED)) {
    const dir = path.join(SRC, layer);
    let files: string[] = [];
    try {
      files = tsFiles(dir);
    } catch {
      continue; // layer not built yet
    }
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      const rel = path.relative(SRC, file);
      for (const { spec, lazy } of imports(source)) {
        if (spec.startsWith('.')) {
          const target = path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep)[0]!;
          if (target === layer) continue;
          const ok =
            ALLOWED[layer]!.includes(target) ||
            (layer === 'cli' && ((lazy && (spec.endsWith('node/server') || spec.endsWith('node/wal-tools'))) || spec.endsWith('node/server-options')));
          if (!ok) violations.push(`${rel} imports ${spec} (${layer} -> ${target})`);
        } else if (PURE.has(layer) && IO_MODULES.test(spec)) {
          violations.push(`${rel} (pure layer) imports ${spec}`);
        }
      }
      if (PURE.has(layer)) {
        const code = source.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
        for (const forbidden of ['Date.now(', 'new Date(', 'Math.random(', 'performance.now(', 'process.', 'setTimeout(', 'setInterval(']) {
          if (code.includes(forbidden)) violations.push(`${rel} (pure layer) uses ${forbidden}`);
        }
      }
    }
  }
  assert.deepEqual(violations, []);
});

/** The wire codes of the client protocols: only the protocols (api/) and the SDK (client/) may read them. */
const CODE_TABLES = [path.join(SRC, 'protocol', 'cmq-codes'), path.join(SRC, 'protocol', 'sqs-codes')];
const PROTOCOL_NEUTRAL = ['service', 'broker', 'controller', 'node'];

test('the service, the broker, the controller and the node never import a protocol\'s code table', () => {
  const violations: string[] = [];
  for (const layer of PROTOCOL_NEUTRAL) {
    for (const file of tsFiles(path.join(SRC, layer))) {
      for (const { spec } of imports(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('.') && CODE_TABLES.includes(path.resolve(path.dirname(file), spec))) violations.push(`${path.relative(SRC, file)} imports ${spec}`);
      }
    }
  }
  assert.deepEqual(violations, []);
  // The tables exist where this test looks for them (else the check above would pass vacuously).
  for (const table of CODE_TABLES) assert.ok(statSync(`${table}.ts`).isFile());
});

test('the service layer uses the broker\'s types only, never its code', () => {
  const violations: string[] = [];
  for (const file of tsFiles(path.join(SRC, 'service'))) {
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:^|\n)\s*(import|export)\s+(type\s+)?[^;'"]*?from\s+['"]([^'"]+)['"]/g)) {
      const spec = m[3]!;
      if (!spec.startsWith('.')) continue;
      const target = path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep)[0];
      if (target === 'broker' && m[2] === undefined) violations.push(`${path.relative(SRC, file)} imports ${spec} (not as a type)`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the layering check itself catches a violation', () => {
  const found = imports(`import { x } from '../node/queue-node';\nconst y = await import('../node/server');`);
  assert.deepEqual(found, [
    { spec: '../node/queue-node', lazy: false },
    { spec: '../node/server', lazy: true },
  ]);
});

/**
 * The driver code the simulator runs reads time and schedules work only through the injected
 * Runtime (src/runtime/timers.ts), so a seed replays it on virtual time.
 */
const RUNTIME_DRIVEN = [
  'node/raft-driver.ts',
  'node/queue-node.ts',
  'node/group-snapshots.ts',
  'node/live-segments.ts',
  'node/compaction.ts',
  'node/move-tasks.ts',
  'node/tick-scheduler.ts',
  'node/host.ts',
  'node/peer-requests.ts',
  'node/group-leadership.ts',
  'node/long-poll.ts',
  'node/snapshot-transfer.ts',
  'node/controller-node.ts',
  'node/group-raft.ts',
  'node/replica-machine.ts',
  'node/group-recovery.ts',
  // The access layer across sets, as node/cluster-wiring.ts wires it (the multi-set simulator runs it).
  'node/cluster-wiring.ts',
  'node/cluster-service.ts',
  'node/sharded-queues.ts',
  'node/shards.ts',
  'node/route-cache.ts',
  'node/route-freshness.ts',
  'node/remote-sets.ts',
  'node/set-reporter.ts',
  'node/controller-client.ts',
  'node/service-calls.ts',
  'node/outbox.ts',
  'node/queue-move.ts',
  'storage/disk-stall.ts',
  'storage/wal.ts',
];

test('the simulated driver reads no clock and sets no timer of its own', () => {
  const violations: string[] = [];
  for (const rel of RUNTIME_DRIVEN) {
    const code = readFileSync(path.join(SRC, rel), 'utf8')
      .replace(/\/\/.*$/gm, '')
      .replace(/\/\*[\s\S]*?\*\//g, '');
    for (const forbidden of ['Date.now(', 'new Date(', 'Math.random(', 'performance.now(', 'randomInt(', 'setTimeout(', 'setInterval(', 'setImmediate(', 'clearTimeout(', 'clearInterval(']) {
      const at = code.split(forbidden).length - 1;
      const viaRuntime = code.split(`.${forbidden}`).length - 1;
      if (at > viaRuntime) violations.push(`${rel} calls ${forbidden} directly`);
    }
  }
  assert.deepEqual(violations, []);
});
