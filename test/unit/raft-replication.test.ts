// Log replication: the AppendEntries receiver rules of Figure 2, conflict resolution with the
// conflict hint, pipelining and batching with flow control, and entries loaded on demand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppendEntries, AppendEntriesResponse, RaftMessage } from '../../src/raft/types';
import { Cluster } from '../sim/harness';
import { Prng } from '../sim/prng';
import { commandPayload } from '../sim/state-machine';
import { entry, Solo } from '../sim/solo';

function append(prevLogIndex: number, prevLogTerm: number, entries: ReturnType<typeof entry>[], leaderCommit = 0, term = 3): AppendEntries {
  return { type: 'AppendEntries', from: 'b', to: 'a', term, prevLogIndex, prevLogTerm, entries, leaderCommit };
}

function responses(msgs: RaftMessage[]): AppendEntriesResponse[] {
  return msgs.filter((m): m is AppendEntriesResponse => m.type === 'AppendEntriesResponse');
}

function followerWith(log: ReturnType<typeof entry>[], term = 2): Solo {
  return new Solo({ log, hardState: { term, votedFor: undefined, commitIndex: 0 } });
}

function settle(c: Cluster, rounds = 10): void {
  for (let i = 0; i < rounds; i++) {
    c.tickAll();
    c.stabilize();
  }
}

test('replication: committed entries are applied in the same order on every node', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  const want: string[] = [];
  for (let i = 0; i < 50; i++) {
    want.push(`c${i}`);
    assert.equal(c.propose('n1', `c${i}`).ok, true);
    if (i % 7 === 0) c.stabilize();
  }
  settle(c, 3);
  for (const id of ['n1', 'n2', 'n3']) assert.deepEqual(c.applied(id), want, id);
  assert.deepEqual(c.violations, []);
});

test('AppendEntries rule 1: a request from an older term is refused with the current term', () => {
  const n = followerWith([entry(1, 1)], 5);
  const [r] = responses(n.step(append(1, 1, [entry(2, 3)], 0, 3)));
  assert.equal(r?.success, false);
  assert.equal(r?.term, 5);
  assert.equal(n.storage.lastIndex(), 1);
});

test('AppendEntries rule 2: refuse when the log has no entry at prevLogIndex whose term is prevLogTerm; hint where to retry', () => {
  const n = followerWith([entry(1, 1), entry(2, 1), entry(3, 2)]);
  const cases: [number, number, { hintIndex: number; hintTerm: number }][] = [
    [5, 3, { hintIndex: 3, hintTerm: 2 }], // prevLogIndex past our end: retry from our last entry
    [3, 3, { hintIndex: 3, hintTerm: 2 }], // term mismatch at 3; our entry 3 (term 2) may still match
    [3, 1, { hintIndex: 2, hintTerm: 1 }], // skip our whole term-2 run at once
  ];
  for (const [prevLogIndex, prevLogTerm, hint] of cases) {
    const [r] = responses(n.step(append(prevLogIndex, prevLogTerm, [])));
    assert.ok(r && !r.success, `prev (${prevLogIndex}, ${prevLogTerm})`);
    assert.deepEqual({ rejectedIndex: r.rejectedIndex, hintIndex: r.hintIndex, hintTerm: r.hintTerm }, { rejectedIndex: prevLogIndex, ...hint });
  }
  assert.equal(n.storage.lastIndex(), 3, 'nothing changed');
});

test('AppendEntries rules 3 and 4: a conflicting entry and all after it are deleted, new entries appended', () => {
  const n = followerWith([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)]);
  const [r] = responses(n.step(append(1, 1, [entry(2, 1), entry(3, 3), entry(4, 3), entry(5, 3)])));
  assert.ok(r?.success);
  assert.equal(r.matchIndex, 5);
  const rd = n.readies.find((x) => x.entriesToPersist.length > 0)!;
  assert.equal(rd.truncateFrom, 3, 'the driver is told to drop the old suffix');
  assert.deepEqual(rd.entriesToPersist.map((e) => `${e.index}/${e.term}`), ['3/3', '4/3', '5/3']);
  assert.deepEqual(n.storage.all().map((e) => `${e.index}/${e.term}`), ['1/1', '2/1', '3/3', '4/3', '5/3']);
});

test('AppendEntries rule 3: entries already present are kept, not rewritten (a duplicate or stale request is harmless)', () => {
  const n = followerWith([entry(1, 3), entry(2, 3), entry(3, 3)], 3);
  const before = n.readies.length;
  const [r] = responses(n.step(append(0, 0, [entry(1, 3), entry(2, 3)])));
  assert.ok(r?.success);
  assert.equal(r.matchIndex, 2);
  assert.ok(n.readies.slice(before).every((x) => x.entriesToPersist.length === 0 && x.truncateFrom === undefined));
  assert.equal(n.storage.lastIndex(), 3, 'entry 3 survives a shorter, older AppendEntries');
});

test('AppendEntries rule 5: commitIndex = min(leaderCommit, index of last new entry)', () => {
  const n = followerWith([], 3);
  n.step(append(0, 0, [entry(1, 3), entry(2, 3)], 5));
  assert.equal(n.raft.status().commitIndex, 2);
  n.step(append(2, 3, [entry(3, 3)], 2));
  assert.equal(n.raft.status().commitIndex, 2);
  n.step(append(3, 3, [], 3));
  assert.equal(n.raft.status().commitIndex, 3);
  assert.equal(n.sm.index, 3, 'committed entries were applied');
});

test('a follower acknowledges entries only after they are persisted (and applies only persisted entries)', () => {
  const n = followerWith([], 3);
  n.raft.step(append(0, 0, [entry(1, 3), entry(2, 3)], 2));
  const rd = n.raft.ready();
  assert.equal(rd.entriesToPersist.length, 2);
  assert.deepEqual(rd.messages, [], 'no AppendEntriesResponse before the entries are durable');
  assert.deepEqual(rd.committedEntries, [], 'committed but not yet persisted here: not applied yet');
  n.storage.persist(rd, undefined);
  n.raft.advance(rd);
  const next = n.raft.ready();
  assert.deepEqual(responses(next.messages).map((r) => r.success && r.matchIndex), [2]);
  assert.deepEqual(next.committedEntries.map((e) => e.index), [1, 2]);
});

test('log matching: a follower with a divergent uncommitted suffix is brought in line with the new leader', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  for (let i = 0; i < 5; i++) c.propose('n1', `ok${i}`);
  c.stabilize();
  c.isolate('n1');
  for (let i = 0; i < 30; i++) c.propose('n1', `lost${i}`);
  c.stabilize();
  assert.equal(c.raft('n1').status().lastIndex, 36);
  for (let i = 0; i < 40 && !['n2', 'n3'].includes(c.leader() ?? ''); i++) {
    c.tickAll();
    c.stabilize();
  }
  const leader = c.leader()!;
  // Longer than n1's log, so the first probe lands past n1's end, inside its divergent run.
  for (let i = 0; i < 40; i++) c.propose(leader, `new${i}`);
  c.stabilize();
  c.heal();
  settle(c);
  const want = [...['ok0', 'ok1', 'ok2', 'ok3', 'ok4'], ...Array.from({ length: 40 }, (_, i) => `new${i}`)];
  for (const id of ['n1', 'n2', 'n3']) assert.deepEqual(c.applied(id), want, id);
  assert.deepEqual(
    c.member('n1').storage.all().map((e) => e.term),
    c.member(leader).storage.all().map((e) => e.term),
  );
  assert.deepEqual(c.violations, []);
});

test('conflict hint: the leader skips a whole term of mismatching entries in one round trip', () => {
  // The leader holds 1..10 of term 1 and 11..20 of term 2; follower b holds 1..30 of term 1
  // (an old leader's uncommitted tail). The first probe (prev 20, term 2) is refused with the hint
  // (20, term 1): one rejection must take the leader straight to 10.
  const log = Array.from({ length: 20 }, (_, i) => entry(i + 1, i < 10 ? 1 : 2));
  const n = new Solo({ log, hardState: { term: 2, votedFor: undefined, commitIndex: 10 } });
  n.becomeLeader(['b', 'c']);
  n.drain();
  const out = n.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term: 3, success: false, rejectedIndex: 20, hintIndex: 20, hintTerm: 1 });
  const probe = out.find((m): m is AppendEntries => m.type === 'AppendEntries' && m.to === 'b');
  assert.ok(probe);
  assert.deepEqual([probe.prevLogIndex, probe.prevLogTerm], [10, 1]);
  assert.equal(probe.entries[0]?.index, 11, 'the probe carries the entries after the match point');
  // A stale rejection (of an older probe) changes nothing.
  const again = n.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term: 3, success: false, rejectedIndex: 20, hintIndex: 20, hintTerm: 1 });
  assert.equal(again.filter((m) => m.type === 'AppendEntries' && m.to === 'b').length, 0);
  n.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term: 3, success: true, matchIndex: 21 });
  assert.equal(n.raft.status().progress.b!.state, 'replicate');
  assert.equal(n.raft.status().progress.b!.matchIndex, 21);
});

test('pipelining: up to maxInflightAppends AppendEntries are in flight to a peer before any answer', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'], maxInflightAppends: 4, maxBytesPerAppend: 1 });
  c.elect('n1');
  settle(c, 2);
  for (let i = 0; i < 10; i++) c.propose('n1', `c${i}`); // one Ready per proposal
  const toN2 = (): AppendEntries[] => c.network.map((f) => f.msg).filter((m): m is AppendEntries => m.type === 'AppendEntries' && m.to === 'n2' && m.entries.length > 0);
  assert.equal(toN2().length, 4, 'the window is full');
  assert.deepEqual(toN2().map((m) => m.entries.length), [1, 1, 1, 1], 'maxBytesPerAppend still sends one entry per message');
  assert.equal(c.raft('n1').status().progress.n2!.inflight, 4);
  c.deliver(); // the appends arrive; the acknowledgements are sent
  c.deliver(); // the acknowledgements arrive
  assert.ok(toN2().length > 0, 'acknowledgements open the window again');
  settle(c, 3);
  assert.equal(c.applied('n2').length, 10);
});

test('batching: proposals made before the next Ready go out as one AppendEntries per peer', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'] });
  c.elect('n1');
  settle(c, 2);
  const raft = c.raft('n1');
  for (let i = 0; i < 20; i++) raft.propose({ kind: 'command', timeMs: 0, metaLen: 0, payload: commandPayload(`c${i}`) });
  c.pump();
  const appends = c.network.map((f) => f.msg).filter((m): m is AppendEntries => m.type === 'AppendEntries');
  assert.deepEqual(appends.map((m) => `${m.to}:${m.entries.length}`).sort(), ['n2:20', 'n3:20']);
});

test('maxBytesPerAppend splits a batch; flow control by bytes bounds what is in flight', () => {
  const c = new Cluster({ ids: ['n1', 'n2'], maxBytesPerAppend: 300 });
  c.elect('n1');
  settle(c, 2);
  const raft = c.raft('n1');
  for (let i = 0; i < 20; i++) raft.propose({ kind: 'command', timeMs: 0, metaLen: 0, payload: new Uint8Array(100) });
  c.pump();
  const sizes = c.network.map((f) => f.msg).flatMap((m) => (m.type === 'AppendEntries' ? [m.entries.length] : []));
  assert.deepEqual(sizes, [2, 2, 2, 2, 2, 2, 2, 2, 2, 2], '2 entries of 148 accounted bytes fit in 300');
});

test('pipelining under loss: lost AppendEntries and responses are recovered from', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'], maxInflightAppends: 8, maxBytesPerAppend: 200 });
  c.elect('n1');
  const rng = new Prng(42);
  c.dropIf = (m) => (m.type === 'AppendEntries' || m.type === 'AppendEntriesResponse') && rng.chance(0.3);
  const want: string[] = [];
  for (let i = 0; i < 200; i++) {
    const r = c.propose(c.leader()!, `c${i}`);
    if (r.ok) want.push(`c${i}`);
    if (i % 5 === 0) {
      c.tickAll();
      c.deliver();
    }
  }
  settle(c, 20);
  c.heal();
  settle(c, 5);
  assert.ok(want.length > 100);
  for (const id of ['n1', 'n2', 'n3']) assert.deepEqual(c.applied(id), want, id);
  assert.ok(c.sent.some((m) => m.type === 'AppendEntriesResponse' && !m.success), 'losses caused rejections and probes');
});

test('flow control: the leader refuses proposals (tooMuchInFlight) beyond maxUncommittedBytes, and accepts again after commit', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'], maxUncommittedBytes: 1000 });
  c.elect('n1');
  settle(c, 2);
  c.isolate('n1');
  const results = Array.from({ length: 20 }, () => c.propose('n1', 'x'.repeat(100)));
  const accepted = results.filter((r) => r.ok).length;
  assert.ok(accepted >= 5 && accepted < 20, `${accepted} accepted`);
  assert.deepEqual(results[results.length - 1], { ok: false, reason: 'tooMuchInFlight' });
  c.heal();
  c.stabilize();
  settle(c, 2);
  assert.equal(c.propose('n1', 'y').ok, true);
});

test('entries that are not in memory are loaded through Ready.entryFetches and then sent', () => {
  const c = new Cluster({ ids: ['n1', 'n2', 'n3'], maxWindowBytes: 500 });
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 40; i++) c.propose('n1', `c${i}`);
  settle(c, 2);
  const leader = c.member('n1');
  leader.storage.unavailableBelow = 1_000; // the driver's cache holds none of it
  leader.autoFetch = false;
  c.heal();
  settle(c, 3);
  assert.ok(leader.fetches.length > 0, 'the core asked for a load');
  assert.ok(c.applied('n3').length < 40);
  for (let i = 0; i < 20 && leader.fetches.length > 0; i++) {
    const f = leader.fetches.shift()!;
    assert.ok(f.from <= f.to);
    c.raft('n1').entriesLoaded(leader.storage.load(f.from, f.to, 1 << 20));
    settle(c, 2);
  }
  assert.equal(c.applied('n3').length, 40);
});

test('the leader counts its own entry toward a majority only once it is persisted', () => {
  const voters = ['a', 'b', 'c', 'd', 'e'];
  const n = new Solo({ voters });
  n.becomeLeader(voters);
  n.drain();
  for (const from of ['b', 'c']) n.step({ type: 'AppendEntriesResponse', from, to: 'a', term: 1, success: true, matchIndex: 1 });
  assert.equal(n.raft.status().commitIndex, 1);
  n.raft.propose({ kind: 'command', timeMs: 0, metaLen: 0, payload: commandPayload('x') });
  const rd = n.raft.ready(); // entry 2 handed to the driver, not yet durable
  for (const from of ['b', 'c']) n.raft.step({ type: 'AppendEntriesResponse', from, to: 'a', term: 1, success: true, matchIndex: 2 });
  assert.equal(n.raft.status().commitIndex, 1, 'two followers and an unpersisted leader are not 3 of 5');
  n.storage.persist(rd, undefined);
  n.raft.advance(rd);
  assert.equal(n.raft.status().commitIndex, 2);
});
