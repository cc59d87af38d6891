// The container entrypoint, run as compose and Kubernetes run it: three members started from the
// same environment (every member in OPENCMQ_PEERS, the cluster secret from a file) form a set that
// serves a client, and SIGTERM reaches the server (the script execs it) for a clean stop.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CmqClient } from '../../src/client';
import { freePorts } from '../helpers/cluster';

const ROOT = path.join(__dirname, '..', '..', '..');
const ENTRYPOINT = path.join(ROOT, 'deploy', 'docker', 'entrypoint.sh');
const CLI_MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const IDS = ['n1', 'n2', 'n3'];

interface Member {
  id: string;
  child: ChildProcess;
  url: Promise<string>;
  exited: Promise<number | null>;
  output: () => string;
}

function startMember(id: string, env: NodeJS.ProcessEnv): Member {
  const child = spawn('sh', [ENTRYPOINT, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    // The start-up JSON is on stdout; stderr carries the log (JSON records too, off a terminal).
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      stdout += c.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{') && l.includes('"url"'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then((code) => reject(new Error(`${id} exited with ${code} before listening:\n${out}`)));
  });
  url.catch(() => {});
  return { id, child, url, exited, output: () => out };
}

async function stopMember(m: Member): Promise<number | null> {
  if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGTERM');
  const t = setTimeout(() => m.child.kill('SIGKILL'), 30_000);
  const code = await m.exited;
  clearTimeout(t);
  return code;
}

void test('entrypoint: three members from one shared environment form a set, serve, and stop on SIGTERM', { timeout: 180_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opencmq-entry-set-'));
  const members: Member[] = [];
  try {
    const secretFile = path.join(tmp, 'cluster_secret');
    fs.writeFileSync(secretFile, 'entrypoint-test-cluster-secret-0123456789\n');
    // All nine in one call, so all different: ports picked by separate calls may come back the
    // same, and two listeners of one member on one port fail its start.
    const all = await freePorts(IDS.flatMap((id) => [`raft-${id}`, `api-${id}`, `admin-${id}`]));
    const pick = (kind: string): Record<string, number> => Object.fromEntries(IDS.map((id) => [id, all[`${kind}-${id}`]!]));
    const raft = pick('raft');
    const api = pick('api');
    const admin = pick('admin');
    const help = spawnSync(process.execPath, [CLI_MAIN, 'server', '--help'], { encoding: 'utf8' }).stdout;
    // The admin listener is used where the server has it (the image always sets it).
    const hasAdmin = /^\s+--admin-port\b/m.test(help);
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OPENCMQ_') && !k.startsWith('NODE_TEST')) base[k] = v;
    const peers = IDS.map((id) => `${id}=127.0.0.1:${raft[id]}`).join(',');
    for (const id of IDS) {
      fs.mkdirSync(path.join(tmp, id));
      members.push(
        startMember(id, {
          ...base,
          OPENCMQ_MAIN: CLI_MAIN,
          OPENCMQ_DATA_DIR: path.join(tmp, id, 'data'),
          OPENCMQ_HOST: '127.0.0.1',
          OPENCMQ_PORT: String(api[id]),
          OPENCMQ_ADMIN_HOST: hasAdmin ? '127.0.0.1' : '',
          OPENCMQ_ADMIN_PORT: hasAdmin ? String(admin[id]) : '',
          OPENCMQ_NODE_ID: id,
          OPENCMQ_RAFT_PORT: String(raft[id]),
          OPENCMQ_PEERS: peers,
          OPENCMQ_CLUSTER_SECRET_FILE: secretFile,
        }),
      );
    }
    const urls = await Promise.all(members.map((m) => m.url));
    const client = new CmqClient({ endpoints: urls });
    // Until a leader is elected the members answer "not applied": retry within a generous bound.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await client.createQueue('via-entrypoint');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`no queue created within 60 s: ${String(err)}\n${members.map((m) => m.output()).join('\n')}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await client.sendMessage('via-entrypoint', 'through the entrypoint');
    const got = await client.receiveMessage('via-entrypoint', { pollingWaitSeconds: 5 });
    assert.equal(got?.body, 'through the entrypoint');
    if (hasAdmin) {
      // Each member is ready once it has heard from the leader: allow for a late heartbeat.
      for (const id of IDS) {
        const until = Date.now() + 30_000;
        let status = 0;
        while (status !== 200 && Date.now() < until) {
          status = await fetch(`http://127.0.0.1:${admin[id]}/readyz`).then((r) => r.status, () => 0);
          if (status !== 200) await new Promise((r) => setTimeout(r, 200));
        }
        assert.equal(status, 200, `${id} /readyz on the admin port the entrypoint passed`);
      }
    }
    const codes = await Promise.all(members.map(stopMember));
    assert.deepEqual(codes, [0, 0, 0], 'SIGTERM stops each member cleanly');
  } finally {
    await Promise.all(members.map(stopMember));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
