// How long a member that was down while the set compacted its log takes to catch up by
// snapshot transfer. A 3-node set on loopback (snapshots every 2,000 entries); one follower is
// killed; N x 1 KiB messages are sent (batches of 16) and stay queued; the follower restarts and
// the script times its catch-up and prints what the leader shipped.
//
//   npm run build && node dist/bench/snapshot-transfer.js [N=100000]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { freePort } from './bench-servers';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const IDS = ['n1', 'n2', 'n3'];
const SECRET = 'snapshot-transfer-bench-secret';
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

type Reply = Record<string, unknown> & { code: number };

function call(port: number, params: Record<string, string>): Promise<Reply> {
  const body = Buffer.from(new URLSearchParams(params).toString());
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent, headers: { 'Content-Length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as Reply));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 100_000);
  const base = mkdtempSync(path.join(os.tmpdir(), 'opencmq-snapbench-'));
  const raft: Record<string, number> = {};
  const api: Record<string, number> = {};
  for (const id of IDS) {
    raft[id] = await freePort();
    api[id] = await freePort();
  }
  const procs = new Map<string, ChildProcess>();
  const outs = new Map<string, string>();
  const start = (id: string): void => {
    const peers = IDS.filter((p) => p !== id).flatMap((p) => ['--peer', `${p}=127.0.0.1:${raft[p]!}`]);
    const args = [CLI, 'server', '--data-dir', path.join(base, id), '--port', String(api[id]), '--node-id', id];
    args.push('--raft-port', String(raft[id]), '--cluster-secret', SECRET, '--snapshot-every', '2000', ...peers);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (c: Buffer) => outs.set(id, (outs.get(id) ?? '') + c.toString()));
    procs.set(id, child);
  };
  try {
    for (const id of IDS) start(id);
    let leader = '';
    for (let i = 0; i < 200 && !leader; i++) {
      await sleep(100);
      const st = await call(api.n1!, { Action: 'OpencmqClusterStatus' }).catch(() => undefined);
      if (st && typeof st.leader === 'string') leader = st.leader;
    }
    if (!leader) throw new Error('no leader');
    await call(api[leader]!, { Action: 'CreateQueue', queueName: 'big' });
    const lagger = IDS.find((i) => i !== leader)!;
    procs.get(lagger)!.kill('SIGKILL');
    await sleep(500);
    const body = 'x'.repeat(1024);
    let sent = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent < total) {
          sent += 16;
          const p: Record<string, string> = { Action: 'BatchSendMessage', queueName: 'big' };
          for (let i = 1; i <= 16; i++) p[`msgBody.${i}`] = body;
          const r = await call(api[leader]!, p);
          if (r.code !== 0) throw new Error(JSON.stringify(r));
        }
      }),
    );
    console.log(`sent ${sent} messages of 1 KiB in ${Date.now() - t0} ms with ${lagger} down`);
    await sleep(2000);
    const restartedAt = Date.now();
    start(lagger);
    for (;;) {
      await sleep(100);
      const a = await call(api[leader]!, { Action: 'OpencmqClusterStatus' }).catch(() => undefined);
      const b = await call(api[lagger]!, { Action: 'OpencmqClusterStatus' }).catch(() => undefined);
      if (a && b && Number(b.appliedIndex) >= Number(a.commitIndex)) {
        console.log(`${lagger} caught up ${Date.now() - restartedAt} ms after its restart (applied ${String(b.appliedIndex)})`);
        break;
      }
    }
    for (const line of (outs.get(leader) ?? '').match(/sent snapshot .*/g) ?? []) console.log(`leader: ${line}`);
    for (const line of (outs.get(lagger) ?? '').match(/installed snapshot .* in .*/g) ?? []) console.log(`${lagger}: ${line}`);
  } finally {
    for (const p of procs.values()) p.kill('SIGKILL');
    await sleep(300);
    rmSync(base, { recursive: true, force: true });
    agent.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
