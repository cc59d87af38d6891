// Gray failures of a 3-node set of real server processes, made with a TCP proxy per peer link:
// links that stay open but carry nothing, in one direction or both. No socket closes, so only the
// members' own signs (the leader's silence, an unanswered echo) tell them what happened. Under each,
// a send/receive/delete load runs and its history must check clean against a final drain.
// - the leader isolated, silently or with its connections reset: the other two elect a leader and
//   serve within a few election timeouts; the old leader acknowledges nothing and, once it has stepped down, answers "not
//   applied" promptly; healed, it follows and catches up. How long the load clients paused and
//   when sends held by the old leader were answered is printed, not asserted;
// - a follower whose bytes to the leader are lost, one whose leader's bytes are lost, and one cut
//   from the leader both ways but not from the other follower: clients of that follower are
//   answered promptly all along (acknowledged, relayed through the other follower, or an error),
//   never left hanging until a transport timeout.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { CheckedLoad, describeReport } from '../helpers/checked-load';
import { freePorts, linesLogged, waitCaughtUp, waitForLeader, withTestSet, type TestSet } from '../helpers/cluster';
import { sendPauses } from '../helpers/load-clients';
import { ProxyMesh } from '../helpers/tcp-proxy';

const IDS = ['n1', 'n2', 'n3'];
const VISIBILITY_S = 3;
/** Generous: the printed figure is what is recorded; a few election timeouts (400-800 ms) are expected. */
const FAILOVER_MS_MAX = 3000;
/** The clients of a cut follower: one probe send every PROBE_EVERY_MS for PROBE_FOR_MS. */
const PROBE_EVERY_MS = 200;
const PROBE_FOR_MS = 8000;
/** Probes started this long after the cut must mostly be acknowledged (the member found its way round). */
const SETTLE_MS = 1500;
const ACKED_SHARE_MIN = 0.8;
/**
 * No probe may wait longer than this for its answer. A member gives up on a cut path after an
 * echo (300 ms pending + 300 ms unanswered): far below this, which leaves room for a loaded box,
 * and far below the transport's own timeouts (5 s idle, 40 s per request) that a hang would show.
 */
const ANSWER_MS_MAX = 2500;
/** The probes' own timeout: above ANSWER_MS_MAX, so a hang is measured, not cut short at the limit. */
const PROBE_TIMEOUT_MS = 6000;
/**
 * For sends to an isolated leader that may hold them until the heal: longer than the cut lasts,
 * so their answer (whenever it comes) is recorded rather than a client timeout.
 */
const STALE_PROBE_TIMEOUT_MS = 20_000;
/** A line worth showing about how members coped: what they gave up on, relayed or answered. */
const GRAY_LINES = /echo|unreachable|relay|silent|nothing heard|sees leader|pre-?vote|steps? down|check-?quorum/i;

/** A set whose peer links all go through proxies; the proxies are closed after the set. */
async function withProxiedSet(body: (set: TestSet, mesh: ProxyMesh) => Promise<void>): Promise<void> {
  const raftPorts = await freePorts(IDS);
  const mesh = await ProxyMesh.start(raftPorts);
  try {
    await withTestSet({ ids: IDS, raftPorts, peerAddress: (from, to) => mesh.addressFor(from, to) }, async (set) => {
      try {
        await body(set, mesh);
      } catch (err) {
        // The log tails withTestSet prints may miss the moment of the fault: show what members said about it.
        console.log(`members' lines about the fault:\n${linesLogged(set, GRAY_LINES).slice(-60).join('\n')}`);
        throw err;
      }
    });
  } finally {
    await mesh.close();
  }
}

/** Start a checked load over every member and wait until it moves. */
async function startLoad(set: TestSet, queueName: string): Promise<CheckedLoad> {
  const load = await CheckedLoad.start({ endpoints: set.ids.map(set.url), queueName, visibilityTimeoutS: VISIBILITY_S, batch: 2 });
  set.onClose(() => load.stop());
  await load.waitForProgress({ sends: 30, deletes: 10 });
  return load;
}

interface Probe {
  /** Since the cut. */
  startMs: number;
  /** How long the answer (or the error) took. */
  answerMs: number;
  acked: boolean;
  reason: string;
}

/** One probe send through `endpoint` every PROBE_EVERY_MS for PROBE_FOR_MS, without waiting for those in flight. */
async function probeFor(load: CheckedLoad, endpoint: string, cutAt: number): Promise<Probe[]> {
  const running: Promise<Probe>[] = [];
  while (Date.now() - cutAt < PROBE_FOR_MS) {
    const started = Date.now();
    running.push(load.probeSend(endpoint, PROBE_TIMEOUT_MS).then((o) => ({ startMs: started - cutAt, answerMs: o.atMs - started, acked: o.acked, reason: o.reason })));
    await sleep(PROBE_EVERY_MS);
  }
  return Promise.all(running);
}

/** Print the probes' figures (`gray <label>: ...`) and assert the cut member's clients were served. */
function checkProbes(label: string, probes: Probe[]): void {
  const acked = probes.filter((p) => p.acked).length;
  const longest = Math.max(...probes.map((p) => p.answerMs));
  const late = probes.filter((p) => p.startMs >= SETTLE_MS);
  const lateAcked = late.filter((p) => p.acked).length;
  const firstAck = probes.find((p) => p.acked);
  console.log(
    `gray ${label}: probes acked ${acked}/${probes.length}, longest answer ${longest} ms ` +
      `(started after ${SETTLE_MS} ms: acked ${lateAcked}/${late.length}; first acked probe started ${firstAck?.startMs ?? '-'} ms after the cut)`,
  );
  const unacked = probes.filter((p) => !p.acked);
  if (unacked.length > 0) {
    console.log(`gray ${label}: unacknowledged probes (start after the cut / answer time / why):\n${unacked.map((p) => `  ${p.startMs} ms / ${p.answerMs} ms / ${p.reason}`).join('\n')}`);
  }
  assert.ok(longest <= ANSWER_MS_MAX, `a probe waited ${longest} ms for its answer (at most ${ANSWER_MS_MAX} ms allowed)`);
  assert.ok(lateAcked >= ACKED_SHARE_MIN * late.length, `only ${lateAcked}/${late.length} probes started ${SETTLE_MS} ms after the cut were acknowledged`);
}

/** Heal every link (unless done at `healedAt`); the set agrees on one leader, `victim` catches up, the load moves, and its history checks clean. */
async function healAndFinish(set: TestSet, mesh: ProxyMesh, load: CheckedLoad, victim: string, label: string, healedAt?: number): Promise<void> {
  if (healedAt === undefined) {
    mesh.healAll();
    healedAt = Date.now();
  }
  const after = await waitForLeader(set);
  const caught = await waitCaughtUp(set, victim);
  console.log(
    `gray ${label}: healed; ${after.leader} leads in term ${after.term} for all three after ${Date.now() - healedAt} ms; ` +
      `${victim} caught up (applied ${caught.appliedIndex} >= commit ${caught.leaderCommitIndex})`,
  );
  await load.waitForProgress({ sends: 30, deletes: 10 });
  const report = await load.finish();
  console.log(`gray ${label}: ${describeReport(report)}`);
}

/** Cut the follower `victim`'s links to the leader one way or both, probe through it, heal, check. */
async function followerCutTest(label: string, cut: (mesh: ProxyMesh, victim: string, leader: string) => void): Promise<void> {
  await withProxiedSet(async (set, mesh) => {
    const load = await startLoad(set, `gray-${label.replace(/[^a-z]+/g, '-')}`);
    const before = await waitForLeader(set);
    const leader = before.leader;
    const [victim, other] = set.ids.filter((id) => id !== leader) as [string, string];
    console.log(`gray ${label}: leader ${leader} (term ${before.term}); cut follower ${victim}; other follower ${other}`);

    cut(mesh, victim, leader);
    const cutAt = Date.now();
    const probes = await probeFor(load, set.url(victim), cutAt);
    // The leader the other two agree on: a cut follower must not have disrupted them.
    const during = await waitForLeader(set, { among: [leader, other] }).catch((err: unknown) => String(err));
    console.log(`gray ${label}: during the cut: ${typeof during === 'string' ? during : `${during.leader} leads in term ${during.term}`}`);
    checkProbes(label, probes);
    await healAndFinish(set, mesh, load, victim, label);
  });
}

/** Cut the leader off from both followers with `cut`, check failover, the old leader's answers and the heal. */
async function leaderIsolationTest(label: string, cut: (mesh: ProxyMesh, old: string, survivors: string[]) => void): Promise<void> {
  await withProxiedSet(async (set, mesh) => {
    const load = await startLoad(set, `gray-${label}`);
    const before = await waitForLeader(set);
    const old = before.leader;
    const survivors = set.ids.filter((id) => id !== old);

    cut(mesh, old, survivors);
    const cutAt = Date.now();
    // Sent straight to the isolated leader before it can know: they must not be acknowledged
    // (nothing commits there), and are recorded to show how long the clients wait.
    const early = [0, 1, 2].map(() => load.probeSend(set.url(old), STALE_PROBE_TIMEOUT_MS).then((o) => ({ ...o, answerMs: o.atMs - cutAt })));
    const failoverMs = await load.firstWrite(survivors.map(set.url), cutAt);
    const during = await waitForLeader(set, { among: survivors });
    console.log(`gray ${label} failover-ms: ${failoverMs} (leader ${old} isolated in term ${before.term}; ${during.leader} leads in term ${during.term})`);
    assert.ok(failoverMs < FAILOVER_MS_MAX, `failover took ${failoverMs} ms`);
    assert.ok(during.term > before.term, `new term ${during.term} after ${before.term}`);
    // The load clients, too, are served while the old leader is cut off.
    await load.waitForProgress({ sends: 30, deletes: 10 });

    // By now the old leader has stepped down (check-quorum) and can reach nobody: it answers
    // "not applied" at once, so its clients move on.
    await sleep(Math.max(0, cutAt + SETTLE_MS - Date.now()));
    const late = await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => {
        await sleep(i * PROBE_EVERY_MS);
        const started = Date.now();
        const o = await load.probeSend(set.url(old), PROBE_TIMEOUT_MS);
        return { ...o, answerMs: o.atMs - started };
      }),
    );
    console.log(`gray ${label}: sends to the isolated old leader after ${SETTLE_MS} ms: ${late.map((o) => `${o.answerMs} ms ${o.acked ? 'ACKED' : o.reason}`).join('; ')}`);
    for (const o of late) {
      assert.ok(!o.acked, 'the isolated old leader acknowledged a send');
      assert.match(o.reason, /code 6100:/, 'the isolated old leader answers "not applied"');
      assert.ok(o.answerMs <= ANSWER_MS_MAX, `the isolated old leader took ${o.answerMs} ms to answer`);
    }

    mesh.healAll();
    const healedAt = Date.now();
    const earlyOutcomes = await Promise.all(early);
    console.log(
      `gray ${label}: sends to the isolated leader right after the cut, answered (ms after the cut; healed at ${healedAt - cutAt} ms): ` +
        earlyOutcomes.map((o) => `${o.answerMs} ms ${o.acked ? 'ACKED' : o.reason}`).join('; '),
    );
    for (const o of earlyOutcomes) assert.ok(!o.acked || o.atMs >= healedAt, 'the isolated leader acknowledged a send while cut off');
    const pauses = sendPauses(load.history, cutAt, healedAt);
    console.log(
      `gray ${label} max-pause-ms: ${pauses.longestGapMs} (longest gap between a load client's acknowledged sends while ${old} was cut off, ` +
        `${pauses.longestGapClient}; slowest acknowledged send ${pauses.longestAckLatencyMs} ms)`,
    );

    await healAndFinish(set, mesh, load, old, label, healedAt);
    const st = await set.status(old);
    assert.notEqual(st.term, before.term, `${old} left its old term ${before.term}`);
  });
}

test('silent isolation of the leader: the other two elect a leader and serve; healed, the old leader follows and catches up', { timeout: 120_000 }, async () => {
  // Connections stay open and nothing flows on them, either way: no reset tells anyone.
  await leaderIsolationTest('silent-isolation', (mesh, old, survivors) => {
    for (const other of survivors) {
      mesh.proxy(old, other).block();
      mesh.proxy(other, old).block();
    }
  });
});

test('isolation of the leader with its connections reset: the same, each side told at once that its links broke', { timeout: 120_000 }, async () => {
  // Every open connection to and from the leader is reset, and new ones carry nothing.
  await leaderIsolationTest('reset-isolation', (mesh, old) => mesh.isolate(old));
});

test('one-way cut follower -> leader: the follower\'s clients are served through the other follower', { timeout: 120_000 }, async () => {
  await followerCutTest('one-way follower->leader', (mesh, victim, leader) => mesh.oneWay(victim, leader));
});

test('one-way cut leader -> follower: the follower\'s clients are served through the other follower', { timeout: 120_000 }, async () => {
  await followerCutTest('one-way leader->follower', (mesh, victim, leader) => mesh.oneWay(leader, victim));
});

test('bridge: a follower cut silently from the leader but not from the other follower serves its clients through it', { timeout: 120_000 }, async () => {
  await followerCutTest('bridge', (mesh, victim, leader) => {
    mesh.proxy(victim, leader).block();
    mesh.proxy(leader, victim).block();
  });
});
