// The Raft driver for real: WALs in temp dirs, hard-state files, and PeerTransports on loopback.
// Checks that a one-voter group commits on its own, and that a three-voter group replicates,
// applies the same sequence everywhere, and elects a new leader when the old one goes away.

import { nodeRuntime } from '../../src/runtime/node-runtime';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { RaftDriver, type Proposed } from '../../src/node/raft-driver';
import { decodeMessage } from '../../src/raft';
import { HardStateStore } from '../../src/storage/hard-state';
import type { LogEntry } from '../../src/storage/types';
import { SegmentedWal } from '../../src/storage/wal';
import { PeerTransport, type PeerNetwork } from '../../src/transport';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Member {
  id: string;
  dir: string;
  log: RaftDriver<string>;
  applied: LogEntry[];
  transport?: PeerTransport;
}

async function openMember(id: string, voters: string[], dir: string, transport?: PeerTransport, network?: PeerNetwork): Promise<Member> {
  const { wal } = await SegmentedWal.open(path.join(dir, 'wal'), { segmentBytes: 256 * 1024, log: () => {} });
  const hardState = await HardStateStore.open(dir);
  const applied: LogEntry[] = [];
  const opts: ConstructorParameters<typeof RaftDriver<string>>[0] = {
    id,
    voters,
    wal,
    hardState,
    appliedIndex: 0,
    lastTimeMs: 0,
    configEntries: [],
    runtime: nodeRuntime,
    tickMs: 20,
    electionTicks: 10,
    heartbeatTicks: 2,
    log: () => {},
    onFatal: (e) => {
      throw e;
    },
  };
  if (transport) opts.network = transport.group(0);
  if (network) opts.network = network;
  const log = new RaftDriver<string>(opts);
  log.onCommit((entries) =>
    entries.map((e) => {
      applied.push(e);
      return `applied ${e.index}`;
    }),
  );
  const m: Member = { id, dir, log, applied };
  if (transport) m.transport = transport;
  return m;
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const body = (s: string): Uint8Array => Buffer.from(s);
const commands = (m: Member): string[] => m.applied.filter((e) => e.kind === 'command').map((e) => Buffer.from(e.payload).toString());

test('a one-voter group commits its proposals by itself, and keeps them across a restart', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-raft1-'));
  dirs.push(dir);
  const m = await openMember('solo', ['solo'], dir);
  await until(() => m.log.leaderId === 'solo', 'self-election');
  const results = await Promise.all(['a', 'b', 'c'].map((s) => m.log.propose(body(s), 1)));
  assert.ok(results.every((r) => r.ok));
  assert.deepEqual(commands(m), ['a', 'b', 'c']);
  assert.deepEqual(await m.log.readBarrier(), { ok: true });
  await m.log.close();

  const again = await openMember('solo', ['solo'], dir);
  await until(() => again.log.leaderId === 'solo', 'self-election after restart');
  assert.ok((await again.log.propose(body('d'), 1)).ok);
  // The committed entries before the restart are applied again from the log (appliedIndex was 0).
  assert.deepEqual(commands(again), ['a', 'b', 'c', 'd']);
  await again.log.close();
});

test('three voters over TCP: replicate, apply the same sequence, fail over to a new leader', { timeout: 60_000 }, async () => {
  const ids = ['n1', 'n2', 'n3'];
  const transports = ids.map((id) => new PeerTransport({ nodeId: id, listen: { host: '127.0.0.1', port: 0 }, peers: {}, clusterSecret: 'test-secret-0123456789', log: () => {} }));
  const ports = await Promise.all(transports.map((t) => t.start()));
  const peers = Object.fromEntries(ids.map((id, i) => [id, { host: '127.0.0.1', port: ports[i]!.port }]));
  for (const t of transports) t.setPeers(peers);
  const members: Member[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), `opencmq-raft3-${ids[i]}-`));
    dirs.push(dir);
    members.push(await openMember(ids[i]!, ids, dir, transports[i]));
  }
  try {
    const leaderOf = (): Member | undefined => members.find((m) => m.log.leaderId === m.id);
    await until(() => leaderOf() !== undefined, 'a leader');
    const leader = leaderOf()!;
    const follower = members.find((m) => m !== leader)!;
    refusedAs(await follower.log.propose(body('x'), 1), 'notLeader');

    for (let i = 0; i < 50; i++) assert.ok((await leader.log.propose(body(`m${i}`), 1)).ok);
    const expected = Array.from({ length: 50 }, (_, i) => `m${i}`);
    await until(() => members.every((m) => commands(m).length === 50), 'every member applies 50 commands');
    for (const m of members) assert.deepEqual(commands(m), expected, `${m.id} applied the same sequence`);

    // While leadership is being handed over the leader appends nothing and says so precisely.
    const target = members.find((m) => m !== leader)!;
    assert.deepEqual(leader.log.transferLeadership(target.id), { ok: true });
    refusedAs(await leader.log.propose(body('during transfer'), 1), 'transferring');
    await until(() => target.log.leaderId === target.id, 'the transfer to finish');
    assert.ok(!commands(target).includes('during transfer'));
    refusedAs(await leader.log.propose(body('after transfer'), 1), 'notLeader');

    // The leader goes away; the other two elect a new one and keep committing.
    await leader.log.close();
    await leader.transport!.close();
    const rest = members.filter((m) => m !== leader);
    await until(() => rest.some((m) => m.log.leaderId === m.id), 'a new leader', 15_000);
    const next = rest.find((m) => m.log.leaderId === m.id)!;
    assert.ok((await next.log.propose(body('after failover'), 1)).ok);
    await until(() => rest.every((m) => commands(m).at(-1) === 'after failover'), 'both survivors apply the new entry');
    for (const m of rest) assert.deepEqual(commands(m), [...expected, 'after failover']);
  } finally {
    for (const m of members) {
      await m.log.close().catch(() => undefined);
      await m.transport?.close().catch(() => undefined);
    }
  }
});

/** A proposal the driver refused before appending it, for `reason`: nothing was applied. */
function refusedAs(r: Proposed<unknown>, reason: 'notLeader' | 'transferring'): void {
  assert.ok(!r.ok, 'refused');
  assert.equal(r.reason, reason);
  assert.equal(r.outcome, 'notApplied');
}

/**
 * Raft messages between members in memory, delivered a turn later; `held` stops the frames from
 * one member to another (kept, to be let through later), as a slow or silent link would.
 */
class Switchboard {
  private readonly handlers = new Map<string, (from: string, payload: Buffer) => void>();
  private readonly heldLinks = new Set<string>();
  private readonly heldFrames: { from: string; to: string; payload: Buffer }[] = [];
  /** Every frame sent, decoded, in order. */
  readonly sent: { from: string; to: string; type: string; entries: number }[] = [];

  network(id: string): PeerNetwork {
    return {
      setPeers: () => {},
      onMessage: (h) => void this.handlers.set(id, h),
      send: (to, payload) => {
        const m = decodeMessage(payload);
        this.sent.push({ from: id, to, type: m.type, entries: m.type === 'AppendEntries' ? m.entries.length : 0 });
        const frame = { from: id, to, payload: Buffer.from(payload) };
        if (this.heldLinks.has(`${id}>${to}`)) this.heldFrames.push(frame);
        else setImmediate(() => this.handlers.get(to)?.(id, frame.payload));
        return true;
      },
      onRequest: () => {},
      request: () => Promise.reject(new Error('no requests on this network')),
      peerWireVersion: () => undefined,
      peerSilenceMs: () => undefined,
    };
  }

  hold(from: string, to: string): void {
    this.heldLinks.add(`${from}>${to}`);
  }

  release(from: string, to: string): void {
    this.heldLinks.delete(`${from}>${to}`);
    for (const f of this.heldFrames.splice(0)) {
      if (f.from === from && f.to === to) setImmediate(() => this.handlers.get(f.to)?.(f.from, f.payload));
      else this.heldFrames.push(f);
    }
  }
}

test('flow control: one AppendEntries in flight per follower; what is proposed meanwhile goes out together once it answers', { timeout: 60_000 }, async () => {
  const ids = ['n1', 'n2', 'n3'];
  const board = new Switchboard();
  const members: Member[] = [];
  for (const id of ids) {
    const dir = await mkdtemp(path.join(os.tmpdir(), `opencmq-raftflow-${id}-`));
    dirs.push(dir);
    members.push(await openMember(id, ids, dir, undefined, board.network(id)));
  }
  try {
    await until(() => members.some((m) => m.log.leaderId === m.id), 'a leader');
    const leader = members.find((m) => m.log.leaderId === m.id)!;
    const [slow, other] = members.filter((m) => m !== leader) as [Member, Member];
    assert.ok((await leader.log.propose(body('first'), 1)).ok);
    await until(() => commands(slow).length === 1, 'the slow follower applies the first entry');

    // The slow follower's answers stop: its first append stays unanswered, so every later
    // proposal waits for it, while the other follower keeps the group committing.
    board.hold(slow.id, leader.id);
    const appendsTo = (m: Member): number => board.sent.filter((f) => f.from === leader.id && f.to === m.id && f.type === 'AppendEntries' && f.entries > 0).length;
    const before = appendsTo(slow);
    for (let i = 0; i < 20; i++) {
      assert.ok((await leader.log.propose(body(`m${i}`), 1)).ok, `m${i} commits with the other follower`);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(appendsTo(slow) - before, 1, 'one AppendEntries with entries in flight to the silent follower');
    assert.ok(appendsTo(other) - before >= 10, `the answering follower got a round per proposal or so (${appendsTo(other) - before})`);

    // Its answer arrives: everything proposed meanwhile follows in one append.
    const held = appendsTo(slow);
    board.release(slow.id, leader.id);
    await until(() => commands(slow).length === 21, 'the slow follower catches up');
    // One append, or two when a heartbeat's answer (which frees a full pipeline) overtook it.
    assert.ok(appendsTo(slow) - held <= 2, `the 19 entries proposed while it was silent went in ${appendsTo(slow) - held} appends`);
    assert.deepEqual(commands(slow), commands(leader));
  } finally {
    for (const m of members) await m.log.close().catch(() => undefined);
  }
});
