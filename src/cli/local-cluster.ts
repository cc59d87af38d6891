// `opencmq cluster start-local`: a 3-node set on this machine, for trying it out. It runs three
// `opencmq server` processes (the same command a real deployment runs on each host), prefixes
// their output with the node id, and stops them all on Ctrl-C.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import type { CommandSpec } from './commands';
import { EXIT_OK } from './cli-io';
import { intOpt, stringOpt } from './options';
import { ADMIN_PORT_OFFSET } from '../node/server-options';

const NODE_IDS = ['n1', 'n2', 'n3'] as const;

export const clusterStartLocal: CommandSpec = {
  words: ['cluster', 'start-local'],
  usage: 'opencmq cluster start-local [--data-dir DIR] [--base-port P] [--raft-base-port R] [--admin-base-port A]',
  summary: 'run a 3-node replicated set on this machine (for trying it out)',
  help: [
    'Starts n1, n2, n3 as three server processes on 127.0.0.1:',
    '  client API on P, P+1, P+2 (default 9601-9603), peers on R, R+1, R+2 (default 9701-9703),',
    `  admin (/healthz, /readyz, /metrics) on A, A+1, A+2 (default P+${ADMIN_PORT_OFFSET}: 9681-9683),`,
    '  data in DIR/n1, DIR/n2, DIR/n3 (default ./opencmq-data/local-set).',
    'Any node accepts any request. Ctrl-C stops all three.',
  ],
  options: {
    'data-dir': { type: 'string' },
    'base-port': { type: 'string' },
    'raft-base-port': { type: 'string' },
    'admin-base-port': { type: 'string' },
  },
  minArgs: 0,
  maxArgs: 0,
  async run(ctx) {
    const dataDir = stringOpt(ctx.opts, 'data-dir') ?? path.join('opencmq-data', 'local-set');
    const basePort = intOpt(ctx.opts, 'base-port', 1, 65533) ?? 9601;
    const raftBasePort = intOpt(ctx.opts, 'raft-base-port', 1, 65533) ?? 9701;
    const adminBasePort = intOpt(ctx.opts, 'admin-base-port', 1, 65533) ?? Math.min(basePort + ADMIN_PORT_OFFSET, 65533);
    // A fresh secret per run: the members of this run share it; nobody else knows it.
    const secret = randomBytes(24).toString('hex');
    // A server creates only the last component of its --data-dir (DIR/n1): DIR is ours to create.
    makeDirectories(dataDir);
    const cli = process.argv[1] ?? path.join(__dirname, 'main.js');
    const children: ChildProcess[] = NODE_IDS.map((id, i) => {
      const peers = NODE_IDS.flatMap((p, j) => (p === id ? [] : ['--peer', `${p}=127.0.0.1:${raftBasePort + j}`]));
      const args = [cli, 'server', '--data-dir', path.join(dataDir, id), '--port', String(basePort + i), '--admin-port', String(adminBasePort + i)];
      args.push('--node-id', id, '--raft-port', String(raftBasePort + i), ...peers);
      const env = { ...process.env, OPENCMQ_CLUSTER_SECRET: secret };
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
      const prefix = (chunk: Buffer): void => {
        for (const line of chunk.toString().split('\n')) if (line !== '') ctx.io.err(`[${id}] ${line}`);
      };
      child.stdout?.on('data', prefix);
      child.stderr?.on('data', prefix);
      return child;
    });
    ctx.io.out(`3-node set starting: http://127.0.0.1:${basePort}, :${basePort + 1}, :${basePort + 2} (Ctrl-C stops it)`);
    ctx.io.out(`admin endpoints: http://127.0.0.1:${adminBasePort}/readyz, :${adminBasePort + 1}, :${adminBasePort + 2}`);
    const exited = children.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    await Promise.race([
      new Promise<void>((resolve) => ctx.io.signal.addEventListener('abort', () => resolve(), { once: true })),
      Promise.all(exited),
    ]);
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(exited);
    ctx.io.err('3-node set stopped');
    return EXIT_OK;
  },
};

/** mkdir -p, one component at a time: Node's recursive mkdir can loop forever under /proc. */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let p = path.resolve(dir); !existsSync(p); p = path.dirname(p)) {
    missing.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (err) {
      throw new Error(`cannot create the data directory ${p}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
