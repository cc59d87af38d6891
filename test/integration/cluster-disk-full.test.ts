// The leader of a 3-node set runs out of disk (its data directory is a tiny tmpfs that gets
// filled): it stops acknowledging but keeps running, hands leadership to one of the other two,
// which keep serving within seconds, and once space is freed it catches up as a follower; every
// acknowledged message is received.
// Needs root (to mount a tmpfs); skipped, saying why, otherwise.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { withTestSet } from '../helpers/cluster';
import { arrayParams, cmqCall } from '../helpers/raw-cmq';
import { fillFileSystem, mountTmpfs, tmpfsUnavailable, unmount as unmountTmpfs } from '../helpers/tmpfs';

const QUEUE = 'fullq';
const FS_MIB = 24;
const BATCH = 16;
const BODY_BYTES = 6000;
const VICTIM = 'n1';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let seq = 0;

/** Unmounts left behind if the test times out (withTestSet's close never runs then). */
const leftovers: (() => void)[] = [];
after(() => {
  for (const fn of leftovers.splice(0)) {
    try {
      fn();
    } catch {
      // already unmounted
    }
  }
});

test('a leader whose disk fills hands leadership over, the other two keep serving within seconds, and it catches up once space is freed', { timeout: 300_000 }, async (t) => {
  const why = tmpfsUnavailable();
  if (why) {
    t.skip(why);
    return;
  }
  await withTestSet({ extraArgs: ['--segment-mb', '1'] }, async (set) => {
    const acked = new Set<string>();
    const waiting: Promise<unknown>[] = [];
    /** One batch send through `id`; an answer slower than `patienceMs` is left running. */
    const send = async (id: string, patienceMs: number): Promise<number | 'waiting' | 'error'> => {
      const bodies = Array.from({ length: BATCH }, () => `m-${seq++}-`.padEnd(BODY_BYTES, 'x'));
      const call = cmqCall(set.url(id), 'BatchSendMessage', { queueName: QUEUE, ...arrayParams('msgBody', bodies) }).then(
        (r) => {
          if (r.code === 0) for (const b of bodies) acked.add(b);
          return r.code;
        },
        () => 'error' as const,
      );
      const answer = await Promise.race([call, sleep(patienceMs).then(() => 'waiting' as const)]);
      if (answer === 'waiting') waiting.push(call);
      return answer;
    };
    const retry = async (what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!(await fn())) {
        assert.ok(Date.now() < deadline, `${what} did not happen within ${ms} ms`);
        await sleep(200);
      }
    };

    await retry('queue created', async () => (await cmqCall(set.url('n2'), 'CreateQueue', { queueName: QUEUE, visibilityTimeout: 300, maxMsgSize: 65536 })).code === 0);

    // Move the victim's data directory onto a tiny tmpfs of its own.
    const dataDir = set.dataDir(VICTIM);
    assert.equal(await set.servers.get(VICTIM)!.stop(), 0);
    const saved = await mkdtemp(path.join(os.tmpdir(), 'opencmq-saved-'));
    execFileSync('cp', ['-a', `${dataDir}/.`, saved]);
    const notMounted = mountTmpfs(dataDir, FS_MIB);
    if (notMounted) {
      await rm(saved, { recursive: true, force: true });
      await set.restart(VICTIM);
      t.skip(notMounted);
      return;
    }
    let mounted = true;
    const unmount = (): void => {
      if (!mounted) return;
      mounted = false;
      unmountTmpfs(dataDir);
    };
    leftovers.push(() => {
      set.servers.get(VICTIM)?.child.kill('SIGKILL');
      unmount();
    });
    set.onClose(async () => {
      const s = set.servers.get(VICTIM);
      if (s && !s.hasExited()) await s.kill9();
      unmount();
    });
    execFileSync('cp', ['-a', `${saved}/.`, dataDir]);
    await rm(saved, { recursive: true, force: true });
    await set.restart(VICTIM);

    // Make the victim the leader.
    await retry(`${VICTIM} leads`, async () => {
      const r = await cmqCall(set.url('n2'), 'OpencmqTransferLeader', { nodeId: VICTIM });
      return r.code === 0 && (await set.status(VICTIM)).role === 'leader';
    });
    for (let i = 0; i < 3; i++) assert.equal(await send(VICTIM, 15_000), 0);

    // Fill its disk; keep sending through it until it stalls.
    const filler = await fillFileSystem(dataDir);
    await retry(`${VICTIM} stalls`, async () => {
      await send(VICTIM, 3000);
      return /storage: STALLED/.test(set.output(VICTIM));
    }, 60_000);
    const stalledAt = Date.now();
    // It hands leadership to one of the other two, which acknowledge again within seconds.
    let served = 0;
    let firstServedMs: number | undefined;
    await retry('the set serves through the other two', async () => {
      for (const id of ['n2', 'n3']) {
        if ((await send(id, 5000)) === 0) {
          served++;
          firstServedMs ??= Date.now() - stalledAt;
        }
      }
      return served >= 10;
    }, 60_000);
    assert.match(set.output(VICTIM), /n1 hands leadership to n[23]: disk full on n1 \(ENOSPC at /);
    assert.ok(firstServedMs! < 15_000, `the other two acknowledged ${firstServedMs} ms after the stall`);
    assert.notEqual(set.leader(), VICTIM);
    // Still full, it is a follower now, and refuses new writes up front, as not applied (or
    // forwards them to the leader: either is fine for a client; what it must not do is lead).
    assert.equal((await set.status(VICTIM)).role, 'follower');
    assert.match(set.output(VICTIM), /storage: STALLED/);
    assert.doesNotMatch(set.output(VICTIM), /storage: RECOVERED/);
    assert.equal(set.servers.get(VICTIM)!.hasExited(), false, `${VICTIM} exited:\n${set.output(VICTIM).slice(-3000)}`);

    // Space returns: the victim resumes with no operator action and catches up.
    await unlink(filler);
    await retry(`${VICTIM} recovers`, () => Promise.resolve(/storage: RECOVERED/.test(set.output(VICTIM))));
    await retry(`${VICTIM} catches up`, async () => {
      const [mine, other] = await Promise.all([set.status(VICTIM), set.status('n2')]);
      return mine.appliedIndex >= other.commitIndex && other.commitIndex > 0;
    }, 60_000);
    await retry(`sends through ${VICTIM} succeed`, async () => (await send(VICTIM, 15_000)) === 0);
    await Promise.all(waiting);

    const got = new Set<string>();
    for (;;) {
      const r = await cmqCall(set.url('n3'), 'BatchReceiveMessage', { queueName: QUEUE, numOfMsg: 16, pollingWaitSeconds: 0 });
      if (r.code === 7000) break;
      assert.equal(r.code, 0, JSON.stringify(r));
      const list = r.msgInfoList as { msgBody: string; receiptHandle: string }[];
      for (const m of list) got.add(m.msgBody);
      assert.equal((await cmqCall(set.url('n3'), 'BatchDeleteMessage', { queueName: QUEUE, ...arrayParams('receiptHandle', list.map((m) => m.receiptHandle)) })).code, 0);
    }
    const missing = [...acked].filter((b) => !got.has(b));
    assert.equal(missing.length, 0, `${missing.length} of ${acked.size} acknowledged messages missing`);

    console.log(
      `${VICTIM} logged:\n${set
        .output(VICTIM)
        .split('\n')
        .filter((l) => /STALLED|RECOVERED|sees leader|hands leadership|truncat/.test(l))
        .slice(0, 20)
        .join('\n')}\nacknowledged ${acked.size}, served by the other two while stalled ${served} batch(es), the first ${firstServedMs} ms after the stall was seen`,
    );
    assert.equal(await set.servers.get(VICTIM)!.stop(), 0);
    unmount();
  });
});
