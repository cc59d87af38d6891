// A 3-node set of real server processes on loopback, for integration tests.

import assert from 'node:assert/strict';
import net from 'node:net';

import type { ClusterNodeStatus } from '../../src/protocol/cluster-types';
import { cmqRequest } from './load-clients';
import { cmqCall } from './raw-cmq';
import { makeDataDir, spawnServer, type ServerProcess } from './server-process';
import { fixturePath } from './tls-fixtures';

/** The cluster secret of every test set (a member started by hand joins with it). */
export const SECRET = 'cluster-test-secret-0123456789';

export interface TestSet {
  ids: string[];
  servers: Map<string, ServerProcess>;
  url: (id: string) => string;
  /** The newest leader any member has logged ("sees leader X in term T"). */
  leader: () => string | undefined;
  /**
   * Start member `id` again (after kill9() or stop()) on its own data directory, peer port and
   * client port, so its URL stays the same; replaces its entry in `servers`.
   */
  restart: (id: string) => Promise<ServerProcess>;
  /** Everything member `id` logged, over all its runs (restarts included). */
  output: (id: string) => string;
  /** Member `id`'s data directory (to damage it on purpose while the member is down). */
  dataDir: (id: string) => string;
  /** Member `id`'s own view of the set (OpencmqClusterStatus is answered where it arrives). */
  status: (id: string, timeoutMs?: number) => Promise<ClusterNodeStatus>;
  /** Run `fn` first thing in close() (e.g. stop load clients before the members go away). */
  onClose: (fn: () => Promise<void>) => void;
  /** Stop every member (resuming paused ones first) and delete the data directories. */
  close: () => Promise<void>;
}

/**
 * Spawn on a fixed port, retrying a few times if it is busy: while a member is down, a client
 * connection of this process may briefly hold its port as an ephemeral local port.
 */
async function spawnWithRetry(dataDir: string, args: string[], port: number): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnServer(dataDir, args, port);
    } catch (err) {
      if (attempt >= 5 || !String(err).includes('EADDRINUSE')) throw err;
      await sleep(500);
    }
  }
}

/** How long close() lets a member stop gracefully before killing it. */
const STOP_GRACE_MS = 15_000;

async function stopOrKill(s: ServerProcess): Promise<void> {
  if (s.hasExited()) return;
  s.resume(); // a SIGSTOPped process would never act on the SIGTERM
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    s.stop().then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), STOP_GRACE_MS))),
  ]);
  clearTimeout(timer);
  if (!stopped) await s.kill9();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface TestSetOptions {
  ids?: string[];
  /** Peer ports chosen in advance (e.g. to put proxies in front of them). */
  raftPorts?: Record<string, number>;
  /** The address `from` uses to reach `to` (default: `to`'s own peer port). */
  peerAddress?: (from: string, to: string) => { host: string; port: number };
  /** More server options for every member (e.g. --snapshot-every). */
  extraArgs?: string[];
  /** Peer links over TLS with the test certificates of n1..n3 and no cluster secret. */
  peerTls?: boolean;
  /** Give members an admin listener (--admin-port) on these ports. */
  adminPorts?: Record<string, number>;
  /** Give members an SQS listener (--sqs-port) on these ports. */
  sqsPorts?: Record<string, number>;
}

/**
 * A free port for each id, all different: every probe listener stays open until all have their
 * port, so no two ids can be given the same one (ports picked one after another can).
 */
export async function freePorts(ids: string[]): Promise<Record<string, number>> {
  const servers = await Promise.all(
    ids.map(
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const srv = net.createServer();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((srv) => (srv.address() as net.AddressInfo).port);
  await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  return Object.fromEntries(ids.map((id, i) => [id, ports[i]!]));
}

export async function startTestSet(opts: TestSetOptions = {}): Promise<TestSet> {
  const ids = opts.ids ?? ['n1', 'n2', 'n3'];
  const raftPorts = opts.raftPorts ?? (await freePorts(ids));
  const addr = opts.peerAddress ?? ((_from: string, to: string) => ({ host: '127.0.0.1', port: raftPorts[to]! }));
  const dirs = await Promise.all(ids.map(() => makeDataDir('opencmq-cluster-')));
  const servers = new Map<string, ServerProcess>();
  const closeHooks: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const fn of closeHooks.splice(0)) await fn().catch(() => undefined);
    await Promise.all([...servers.values()].map((s) => stopOrKill(s).catch(() => undefined)));
    for (const d of dirs) await d.cleanup();
  };
  const argsOf = (id: string): string[] => {
    const peers = ids.filter((p) => p !== id).flatMap((p) => {
      const a = addr(id, p);
      return ['--peer', `${p}=${a.host}:${a.port}`];
    });
    const security = opts.peerTls
      ? ['--peer-tls-cert', fixturePath(`${id}.pem`), '--peer-tls-key', fixturePath(`${id}.key`), '--peer-tls-ca', fixturePath('ca.pem')]
      : ['--cluster-secret', SECRET];
    const admin = opts.adminPorts?.[id] !== undefined ? ['--admin-port', String(opts.adminPorts[id])] : [];
    const sqs = opts.sqsPorts?.[id] !== undefined ? ['--sqs-port', String(opts.sqsPorts[id])] : [];
    return ['--node-id', id, '--raft-port', String(raftPorts[id]), ...security, ...peers, ...admin, ...sqs, ...(opts.extraArgs ?? [])];
  };
  const dirOf = (id: string): string => dirs[ids.indexOf(id)]!.dir;
  /** The output of each member's earlier runs, before restart() replaced them. */
  const earlierOutput = new Map<string, string[]>();
  // Every start is waited for, failed or not, before cleaning up: a member still starting when
  // another failed would otherwise be left running and keep the test file from ever exiting.
  const started = await Promise.allSettled(ids.map(async (id) => servers.set(id, await spawnServer(dirOf(id), argsOf(id)))));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await close();
    throw failed.reason;
  }
  return {
    ids,
    servers,
    dataDir: dirOf,
    url: (id) => servers.get(id)!.url,
    leader: () => {
      let best: { term: number; leader: string } | undefined;
      for (const s of servers.values()) {
        for (const m of s.output().matchAll(/sees leader (\S+) in term (\d+)/g)) {
          const term = Number(m[2]);
          if (m[1] !== '(none)' && (!best || term > best.term)) best = { term, leader: m[1]! };
        }
      }
      return best?.leader;
    },
    restart: async (id) => {
      const old = servers.get(id);
      if (old === undefined) throw new Error(`restart: no member ${id}`);
      if (!old.hasExited()) throw new Error(`restart: ${id} is still running`);
      const s = await spawnWithRetry(dirOf(id), argsOf(id), old.port);
      earlierOutput.set(id, [...(earlierOutput.get(id) ?? []), old.output()]);
      servers.set(id, s);
      return s;
    },
    onClose: (fn) => {
      closeHooks.push(fn);
    },
    output: (id) => [...(earlierOutput.get(id) ?? []), servers.get(id)?.output() ?? ''].join(`\n--- ${id} restarted ---\n`),
    status: async (id, timeoutMs = 2000) => {
      const s = servers.get(id);
      if (s === undefined) throw new Error(`status: no member ${id}`);
      const r = await cmqRequest(s.url, 'OpencmqClusterStatus', {}, { timeoutMs });
      if (r.code !== 0) throw new Error(`status of ${id}: code ${r.code}: ${r.message}`);
      return r as unknown as ClusterNodeStatus;
    },
    close,
  };
}

/** Log lines worth seeing in a passing test's output: recovery and catch-up events. */
const NOTABLE = /behind the compacted log|installed snapshot|InstallSnapshot|torn tail|differs from the core's/;

/** Every line a member logged that matches `pattern`, prefixed with the member's id. */
export function linesLogged(set: TestSet, pattern: RegExp): string[] {
  return set.ids.flatMap((id) =>
    set
      .output(id)
      .split('\n')
      .filter((line) => pattern.test(line))
      .map((line) => `${id}: ${line}`),
  );
}

/** Log lines that mean a member hit something it must never hit, whatever the test does to it. */
const TROUBLE = /FATAL|CORRUPTION|invariant violated|opencmq: stopping|snapshot transfer to \S+ failed|Unhandled|TypeError|RangeError/;

/** Every line a member logged that matches TROUBLE, prefixed with the member's id. */
export function troubleLogged(set: TestSet): string[] {
  return linesLogged(set, TROUBLE);
}

/** The last `lines` lines each member logged, for a failing test's output. */
export function logTails(set: TestSet, lines = 30): string {
  return set.ids.map((id) => `--- ${id} (last ${lines} lines) ---\n${set.output(id).split('\n').slice(-lines).join('\n')}`).join('\n');
}

/**
 * Start a set, run `body` on it, then check no member logged trouble and close it. When `body`
 * fails, the members' log tails are printed before the set (and its logs) go away.
 */
export async function withTestSet<T>(opts: TestSetOptions, body: (set: TestSet) => Promise<T>): Promise<T> {
  const set = await startTestSet(opts);
  try {
    const result = await body(set);
    const notable = linesLogged(set, NOTABLE);
    if (notable.length > 0) console.log(`members logged ${notable.length} notable line(s):\n${notable.slice(0, 10).join('\n')}`);
    const trouble = troubleLogged(set);
    assert.deepEqual(trouble, [], `members logged trouble:\n${trouble.join('\n')}`);
    return result;
  } catch (err) {
    console.log(logTails(set));
    throw err;
  } finally {
    await set.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The statuses of `ids` that answered within `timeoutMs` (a dead or paused member is left out). */
async function statusesOf(set: TestSet, ids: readonly string[], timeoutMs: number): Promise<ClusterNodeStatus[]> {
  const all = await Promise.all(ids.map((id) => set.status(id, timeoutMs).catch(() => undefined)));
  return all.filter((s): s is ClusterNodeStatus => s !== undefined);
}

/**
 * Wait until every member in `among` (default: all) answers and all agree on one leader in one
 * term, that leader being one of them and saying so itself. Throws after `timeoutMs`.
 */
export async function waitForLeader(
  set: TestSet,
  opts: { among?: readonly string[]; timeoutMs?: number } = {},
): Promise<{ leader: string; term: number; statuses: ClusterNodeStatus[] }> {
  const among = opts.among ?? set.ids;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const statuses = await statusesOf(set, among, 1000);
    const leaders = statuses.filter((s) => s.role === 'leader');
    const l = leaders[0];
    if (statuses.length === among.length && leaders.length === 1 && l !== undefined) {
      if (statuses.every((s) => s.leader === l.nodeId && s.term === l.term)) return { leader: l.nodeId, term: l.term, statuses };
    }
    last = statuses.map((s) => `${s.nodeId}: ${s.role} term ${s.term} leader ${s.leader || '-'}`).join('; ') || 'no member answered';
    await sleep(100);
  }
  throw new Error(`no agreed leader among ${among.join(', ')} within ${timeoutMs} ms; last: ${last}`);
}

/**
 * Wait until member `id` has applied everything the leader had committed just before: the
 * leader's commitIndex is read first, then `id`'s appliedIndex, so under load this shows `id`
 * keeping up, not just a lucky moment. `among`: the members to look for the leader in.
 */
export async function waitCaughtUp(
  set: TestSet,
  id: string,
  opts: { among?: readonly string[]; timeoutMs?: number } = {},
): Promise<{ leader: string; leaderCommitIndex: number; appliedIndex: number }> {
  const among = opts.among ?? set.ids;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const leader = (await statusesOf(set, among, 1000)).find((s) => s.role === 'leader');
    const mine = leader ? await set.status(id, 1000).catch(() => undefined) : undefined;
    if (leader && mine) {
      if (mine.nodeId === leader.nodeId || mine.appliedIndex >= leader.commitIndex) {
        return { leader: leader.nodeId, leaderCommitIndex: leader.commitIndex, appliedIndex: mine.appliedIndex };
      }
      last = `${id} applied ${mine.appliedIndex} (${mine.role}, leader ${mine.leader || '-'}), leader ${leader.nodeId} committed ${leader.commitIndex}`;
    } else last = leader ? `${id} does not answer` : 'no leader answers';
    await sleep(100);
  }
  throw new Error(`${id} did not catch up within ${timeoutMs} ms; last: ${last}`);
}

/** Waits until the member at `endpoint` has applied up to `index` (its own status, asked directly). */
export async function waitApplied(endpoint: string, index: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const st = await cmqCall(endpoint, 'OpencmqClusterStatus').catch(() => undefined);
    if (st && st.code === 0 && Number(st.appliedIndex) >= index) return;
    last = JSON.stringify(st);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not applied up to ${index} within ${timeoutMs} ms: ${last}`);
}
