// Dead-letter queues on another set (DeadLetterPolicy.remote): the state machine binds the policy
// without the dead-letter queue here, keeps each dead letter in the source queue's outbox until the
// leader's send is settled, retries for as long as it takes, drops only what is gone, and carries
// all of it through the codec and snapshots, while older replicas never see it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { decodeCommand, encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult, DeadLetterPolicy } from '../../src/broker/commands';
import { forOlderReplicas, olderReplicasCanApply } from '../../src/broker/compat';
import { DEAD_LETTER_RETRY, deadLetterRetryMs } from '../../src/broker/dead-letter-outbox';
import { BrokerFormatError } from '../../src/broker/binary';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { drainSnapshot } from '../../src/broker/snapshot-capture';
import { commandForVoters } from '../../src/node/version-gate';
import { BrokerHarness } from '../helpers/broker-harness';

const REMOTE: DeadLetterPolicy = { deadLetterQueue: 'far', policy: 0, maxReceiveCount: 1, remote: true };

class Harness extends BrokerHarness {
  /** A queue `src` whose dead-letter queue `far` is on another set. */
  constructor(policy: DeadLetterPolicy | null = REMOTE, fifo = false) {
    super();
    const attrs = policy === null ? {} : { deadLetterPolicy: policy };
    this.ok({ kind: 'createQueue', queueName: 'src', attrs: fifo ? { ...attrs, sqs: { fifo: true } } : attrs });
  }

  send(body: string, groupId?: string): string {
    const options = groupId === undefined ? undefined : [{ groupId }];
    return this.ok({ kind: 'sendMessages', queueName: 'src', delaySeconds: groupId === undefined ? null : 0, bodies: [Buffer.from(body)], ...(options ? { options } : {}) }).msgIds[0]!;
  }

  /** Received once (back at once), then past maxReceiveCount on the next receive. */
  deadLetterAll(): void {
    this.ok({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 16, seed: 1, visibilitySeconds: 0 });
    this.advance(1);
    const r = this.ok({ kind: 'receiveMessages', queueName: 'src', numOfMsg: 16, seed: 2 });
    assert.equal(r.messages.length, 0, 'every message went to the outbox');
  }

  failed(msgId: string, gone = false): Extract<CommandResult, { ok: true; kind: 'deadLetterFailed' }> {
    return this.ok({ kind: 'deadLetterFailed', queueName: 'src', msgId, gone });
  }
}

describe('binding a dead-letter queue on another set', () => {
  test('a remote policy binds without the dead-letter queue here; the same policy without the flag does not', () => {
    const h = new Harness(null);
    const r = h.run({ kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'far', policy: 0, maxReceiveCount: 3 } } });
    assert.equal(r.ok ? undefined : r.error, 'dlqNotExist');
    const bound = h.ok({ kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { ...REMOTE, maxReceiveCount: 3 } } });
    assert.deepEqual(bound.attributes.deadLetterPolicy, { ...REMOTE, maxReceiveCount: 3 });
    h.ok({ kind: 'createQueue', queueName: 'src2', attrs: { deadLetterPolicy: REMOTE } });
    assert.deepEqual(
      h.sm.listRemoteDeadLetterSources('far', undefined, 0, 20).queueList.map((q) => q.queueName),
      ['src', 'src2'],
    );
    assert.equal(h.sm.listRemoteDeadLetterSources('far', 'src2', 0, 20).totalCount, 1);
    // The dead-letter queue is not here: its own-set list does not pretend it is.
    const own = h.sm.listDeadLetterSourceQueues('far', undefined, 0, 20);
    assert.equal('ok' in own ? own.error : undefined, 'queueNotExist');
  });

  test('what depends only on this set is still checked: self, parameters, a queue that is itself a dead-letter queue', () => {
    const h = new BrokerHarness();
    h.ok({ kind: 'createQueue', queueName: 'dl', attrs: {} });
    h.ok({ kind: 'createQueue', queueName: 'a', attrs: { deadLetterPolicy: { deadLetterQueue: 'dl', policy: 0, maxReceiveCount: 2 } } });
    const err = (queueName: string, p: DeadLetterPolicy): string | undefined => {
      const r = h.run({ kind: 'setQueueAttributes', queueName, attrs: { deadLetterPolicy: p } });
      return r.ok ? undefined : r.error;
    };
    assert.equal(err('a', { ...REMOTE, deadLetterQueue: 'a' }), 'dlqPolicyParams');
    assert.equal(err('a', { deadLetterQueue: 'far', policy: 0, remote: true }), 'dlqPolicyParams');
    assert.equal(err('a', { deadLetterQueue: 'far', policy: 1, maxTimeToLive: 10 ** 7, remote: true }), 'dlqPolicyParams');
    assert.equal(err('dl', REMOTE), 'dlqNested');
    // A remote source does not make its dead-letter queue's name a local dead-letter queue.
    assert.equal(err('a', REMOTE), undefined);
    h.ok({ kind: 'deleteQueue', queueName: 'dl' });
  });
});

describe('dead letters for another set', () => {
  test('a message past maxReceiveCount leaves the queue into its outbox, due at once, its body kept live; deadLetterSent settles it', () => {
    const h = new Harness();
    const msgId = h.send('hello');
    const sendEntry = h.index;
    h.deadLetterAll();
    assert.equal(h.sm.getQueueAttributes('src')!.activeMsgNum, 0);
    const due = h.sm.dueDeadLetters(h.timeMs, 10);
    assert.equal(due.length, 1);
    const d = due[0]!;
    assert.deepEqual(
      { ...d, body: undefined },
      // sinceIndex: the receive that dead-lettered it.
      { deadLetter: true, sourceQueue: 'src', destinationQueue: 'far', msgId, sinceIndex: h.index, move: false, body: undefined, enveloped: false, failedAttempts: 0, nextAttemptMs: h.timeMs },
    );
    assert.equal(h.body(d.body).toString(), 'hello');
    assert.deepEqual(h.sm.dueDeliveries(h.timeMs, 10), due);
    assert.equal(h.sm.nextPushAttemptMs(), h.timeMs);
    assert.equal(h.sm.stats().deadLetterPending, 1);
    assert.equal(h.sm.stats().deadLetterMoves, 0, 'counted once the dead-letter queue took it');
    // Live for storage: the log entry holding its body, and the census.
    assert.ok(h.sm.liveEntryIndexes().includes(sendEntry));
    const bodies: number[] = [];
    h.sm.forEachPushBody((e) => bodies.push(e));
    assert.deepEqual(bodies, [sendEntry]);
    const heard: number[] = [];
    drainSnapshot(h.sm.beginSnapshot((e) => heard.push(e)));
    assert.ok(heard.includes(sendEntry), 'a snapshot keeps its entry');

    assert.deepEqual(h.ok({ kind: 'deadLetterSent', queueName: 'src', msgId }), { ok: true, kind: 'deadLetterSent', found: true });
    assert.deepEqual(h.sm.dueDeadLetters(h.timeMs, 10), []);
    assert.equal(h.sm.nextPushAttemptMs(), undefined);
    assert.equal(h.sm.stats().deadLetterPending, 0);
    assert.equal(h.sm.stats().deadLetterMoves, 1);
    assert.ok(!h.sm.liveEntryIndexes().includes(sendEntry));
    // Settled twice (an answer lost, the next leader sends again): nothing more happens.
    assert.equal(h.ok({ kind: 'deadLetterSent', queueName: 'src', msgId }).found, false);
    assert.equal(h.sm.stats().deadLetterMoves, 1);
  });

  test('a failed send is tried again after a capped backoff, for as long as it takes, whatever time passes', () => {
    const h = new Harness();
    const msgId = h.send('x');
    h.deadLetterAll();
    let expectWait: number = DEAD_LETTER_RETRY.firstMs;
    for (let k = 1; k <= 40; k++) {
      const f = h.failed(msgId);
      assert.equal(f.outcome, 'retry');
      assert.equal(f.nextAttemptMs, h.timeMs + expectWait, `attempt ${k}`);
      assert.equal(deadLetterRetryMs(k), expectWait);
      assert.deepEqual(h.sm.dueDeadLetters(f.nextAttemptMs - 1, 10), [], 'not due before its time');
      assert.equal(h.sm.dueDeadLetters(f.nextAttemptMs, 10)[0]?.failedAttempts, k);
      expectWait = Math.min(expectWait * 2, DEAD_LETTER_RETRY.capMs);
      h.advance(f.nextAttemptMs - h.timeMs);
    }
    // Weeks later (past any retention), still pending.
    h.advance(30 * 86_400_000);
    h.ok({ kind: 'tick' });
    assert.equal(h.sm.stats().deadLetterPending, 1);
    assert.equal(h.sm.stats().deadLetterDrops, 0);
    assert.equal(h.ok({ kind: 'deadLetterSent', queueName: 'src', msgId }).found, true);
  });

  test('gone drops it, counted in deadLetterDrops; settling an unknown one changes nothing', () => {
    const h = new Harness();
    const a = h.send('a');
    h.deadLetterAll();
    assert.equal(h.failed(a, true).outcome, 'dropped');
    assert.equal(h.sm.stats().deadLetterDrops, 1);
    assert.equal(h.sm.stats().deadLetterPending, 0);
    assert.equal(h.failed(a, true).outcome, 'unknown');
    assert.equal(h.failed('nope').outcome, 'unknown');
    assert.equal(h.sm.stats().deadLetterDrops, 1);
  });

  test('deleting the source queue drops its pending dead letters, counted', () => {
    const h = new Harness();
    h.send('a');
    h.send('b');
    h.deadLetterAll();
    assert.equal(h.sm.stats().deadLetterPending, 2);
    h.ok({ kind: 'deleteQueue', queueName: 'src' });
    assert.equal(h.sm.stats().deadLetterPending, 0);
    assert.equal(h.sm.stats().deadLetterDrops, 2);
    assert.deepEqual(h.sm.dueDeadLetters(h.timeMs, 10), []);
  });

  test('policy 1: a message past maxTimeToLive goes to the outbox too', () => {
    const h = new Harness({ deadLetterQueue: 'far', policy: 1, maxTimeToLive: 60, remote: true });
    const msgId = h.send('ttl');
    h.advance(61_000);
    h.ok({ kind: 'tick' });
    assert.deepEqual(
      h.sm.dueDeadLetters(h.timeMs, 10).map((d) => d.msgId),
      [msgId],
    );
  });

  test('a FIFO queue\'s dead letter keeps its group; an enveloped body says so', () => {
    const h = new Harness({ ...REMOTE }, true);
    h.send('f', 'g1');
    h.deadLetterAll();
    const d = h.sm.dueDeadLetters(h.timeMs, 10)[0]!;
    assert.equal(d.groupId, 'g1');
    const e = new Harness();
    e.ok({ kind: 'sendMessages', queueName: 'src', delaySeconds: null, bodies: [Buffer.from('env')], options: [{ enveloped: true, countedBytes: 3 }] });
    e.deadLetterAll();
    assert.equal(e.sm.dueDeadLetters(e.timeMs, 10)[0]!.enveloped, true);
  });

  test('a FIFO group goes one message at a time, in order: the next only once the one before is taken', () => {
    const h = new Harness({ ...REMOTE }, true);
    const [a1, a2, b1] = [h.send('a1', 'A'), h.send('a2', 'A'), h.send('b1', 'B')];
    h.deadLetterAll();
    const heads = (): string[] => h.sm.dueDeadLetters(Number.MAX_SAFE_INTEGER, 10).map((d) => d.msgId);
    assert.deepEqual(heads(), [a1, b1]);
    // A failed head holds its group back, not the others.
    h.failed(a1);
    assert.deepEqual(heads(), [b1, a1], 'a2 still waits behind a1');
    assert.deepEqual(h.sm.dueDeadLetters(h.timeMs, 10).map((d) => d.msgId), [b1]);
    h.ok({ kind: 'deadLetterSent', queueName: 'src', msgId: a1 });
    assert.deepEqual(heads(), [a2, b1]);
  });

  test('pushes and dead letters are due together, earliest first', () => {
    const h = new Harness();
    h.ok({ kind: 'createTopic', topicName: 't', maxMsgSize: 65536, filterType: 1 });
    h.ok({
      kind: 'subscribe',
      topicName: 't',
      subscriptionName: 'hook',
      protocol: 'http',
      endpoint: 'http://h.example/',
      notifyStrategy: 'BACKOFF_RETRY',
      notifyContentFormat: 'SIMPLIFIED',
      filterTags: [],
      bindingKeys: [],
    });
    const dl = h.send('dead');
    h.deadLetterAll();
    h.advance(5);
    h.ok({ kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('p')], msgTags: [], routingKey: '' });
    const all = h.sm.dueDeliveries(h.timeMs, 10);
    assert.equal(all.length, 2);
    assert.equal((all[0] as { msgId: string }).msgId, dl);
    assert.equal(h.sm.dueDeliveries(h.timeMs, 1).length, 1);
  });
});

describe('dead letters for another set in snapshots', () => {
  test('the remote flag and the pending dead letters (attempts, groups) survive a restore', () => {
    const h = new Harness({ ...REMOTE }, true);
    const a = h.send('a', 'g1');
    h.send('b', 'g2');
    h.deadLetterAll();
    h.failed(a);
    const snap = h.sm.snapshot();
    const r = QueueStateMachine.restore(snap);
    assert.deepEqual(r.getQueueAttributes('src')!.deadLetterPolicy, REMOTE);
    assert.deepEqual(r.dueDeadLetters(h.timeMs + 10 ** 6, 10), h.sm.dueDeadLetters(h.timeMs + 10 ** 6, 10));
    assert.equal(r.nextPushAttemptMs(), h.sm.nextPushAttemptMs());
    assert.deepEqual(r.stats(), h.sm.stats());
    assert.deepEqual(r.liveEntryIndexes(), h.sm.liveEntryIndexes());
    assert.deepEqual(Buffer.from(r.snapshot()), Buffer.from(snap), 'the same bytes again');
    // The restored machine settles as the original would.
    const e = encodeCommand({ kind: 'deadLetterSent', queueName: 'src', msgId: a });
    const res = r.apply(h.index + 1, h.timeMs, e.payload, e.metaLen);
    assert.deepEqual(res, { ok: true, kind: 'deadLetterSent', found: true });
    assert.equal(r.stats().deadLetterPending, 1);
  });

  test('a machine without them writes neither field, so a snapshot keeps its earlier form', () => {
    const h = new BrokerHarness();
    h.ok({ kind: 'createQueue', queueName: 'dl', attrs: {} });
    h.ok({ kind: 'createQueue', queueName: 'a', attrs: { deadLetterPolicy: { deadLetterQueue: 'dl', policy: 0, maxReceiveCount: 1 } } });
    const text = Buffer.from(h.sm.snapshot()).toString('latin1');
    assert.ok(!text.includes('deadLetters') && !text.includes('"remote"'));
    // Once every dead letter is settled the queue's meta is back to its earlier form too.
    const r = new Harness();
    const m = r.send('x');
    r.deadLetterAll();
    assert.ok(Buffer.from(r.sm.snapshot()).toString('latin1').includes('"deadLetters"'));
    r.ok({ kind: 'deadLetterSent', queueName: 'src', msgId: m });
    assert.ok(!Buffer.from(r.sm.snapshot()).toString('latin1').includes('"deadLetters"'));
  });

  test('bad pending rows or a bad remote flag in a snapshot are format errors', () => {
    const h = new Harness();
    h.send('x');
    h.deadLetterAll();
    const text = Buffer.from(h.sm.snapshot()).toString('latin1');
    const swap = (from: string, to: string): Uint8Array => {
      assert.ok(text.includes(from), from);
      assert.equal(from.length, to.length, 'same length: the meta length prefix stays right');
      return Buffer.from(text.replace(from, to), 'latin1');
    };
    assert.throws(() => QueueStateMachine.restore(swap('"remote":true', '"remote":"no"')), BrokerFormatError);
    assert.throws(() => QueueStateMachine.restore(swap('"deadLetters":[["', '"deadLetters":[[1')), BrokerFormatError);
  });
});

describe('dead letters for another set in the codec and during upgrades', () => {
  const setRemote: Command = { kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: REMOTE } };
  const setLocal: Command = { kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { deadLetterQueue: 'far', policy: 0, maxReceiveCount: 1 } } };

  test('the flag and the settling commands round-trip; remote false is written as absent', () => {
    for (const cmd of [
      setRemote,
      setLocal,
      { kind: 'createQueue', queueName: 'q', attrs: { deadLetterPolicy: REMOTE } },
      { kind: 'deadLetterSent', queueName: 'src', msgId: 'g0:msg-1' },
      { kind: 'deadLetterFailed', queueName: 'src', msgId: 'g0:msg-1', gone: false },
      { kind: 'deadLetterFailed', queueName: 'src', msgId: 'g0:msg-1', gone: true },
    ] satisfies Command[]) {
      const e = encodeCommand(cmd);
      assert.deepEqual(decodeCommand(e.payload, e.metaLen), cmd);
    }
    const falseFlag = encodeCommand({ kind: 'setQueueAttributes', queueName: 'src', attrs: { deadLetterPolicy: { ...REMOTE, remote: false } } });
    assert.deepEqual(Buffer.from(falseFlag.payload), Buffer.from(encodeCommand(setLocal).payload));
    assert.ok(!Buffer.from(encodeCommand(setLocal).payload).toString('latin1').includes('remote'));
  });

  test('a bad gone flag is refused', () => {
    const e = encodeCommand({ kind: 'deadLetterFailed', queueName: 'src', msgId: 'm', gone: true });
    const p = Uint8Array.from(e.payload);
    p[e.metaLen - 1] = 2;
    assert.throws(() => decodeCommand(p, e.metaLen), BrokerFormatError);
  });

  test('older replicas can apply none of it, and it has no older form: refused as not applied until every voter is upgraded', () => {
    const settle: Command[] = [
      { kind: 'deadLetterSent', queueName: 'src', msgId: 'm' },
      { kind: 'deadLetterFailed', queueName: 'src', msgId: 'm', gone: false },
    ];
    for (const cmd of [setRemote, { kind: 'createQueue', queueName: 'q', attrs: { deadLetterPolicy: REMOTE } } satisfies Command, ...settle]) {
      assert.equal(olderReplicasCanApply(cmd), false, cmd.kind);
      assert.equal(forOlderReplicas(cmd), undefined, cmd.kind);
      const refused = commandForVoters(cmd, ['n3']);
      assert.equal('error' in refused ? refused.error : undefined, 'notApplied');
      assert.deepEqual(commandForVoters(cmd, []), cmd);
    }
    assert.equal(olderReplicasCanApply(setLocal), true);
  });
});

describe('redrive across sets', () => {
  /** A dead-letter queue `dlq` holding two messages sent from another set's `src` as dead letters, and one plain one. */
  function dlqSet(): BrokerHarness {
    const h = new BrokerHarness();
    h.ok({ kind: 'createQueue', queueName: 'dlq', attrs: {} });
    h.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [Buffer.from('d1'), Buffer.from('d2')], options: [{ deadLetterSource: 'src' }, { deadLetterSource: 'src' }] });
    h.ok({ kind: 'sendMessages', queueName: 'dlq', delaySeconds: null, bodies: [Buffer.from('plain')] });
    return h;
  }

  test('a dead letter from another set makes its queue a dead-letter queue here, and a move with no destination sends it back there', () => {
    const h = dlqSet();
    const started = h.ok({ kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: null, maxPerSecond: null });
    const r = h.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 10, taskHandle: started.taskHandle });
    assert.equal(r.moved, 2);
    assert.equal(r.stayed, 1, 'the plain message has no source to go back to');
    const due = h.sm.dueDeadLetters(h.timeMs, 10);
    assert.deepEqual(
      due.map((d) => [d.sourceQueue, d.destinationQueue, d.move, h.body(d.body).toString(), d.sinceIndex]),
      [
        ['dlq', 'src', true, 'd1', h.index],
        ['dlq', 'src', true, 'd2', h.index],
      ],
    );
    // A move is counted by its task, not as a dead letter, when its destination takes it.
    h.ok({ kind: 'deadLetterSent', queueName: 'dlq', msgId: due[0]!.msgId });
    assert.equal(h.sm.stats().deadLetterMoves, 0);
    // The snapshot keeps what is still on its way.
    const r2 = QueueStateMachine.restore(h.sm.snapshot());
    assert.deepEqual(r2.dueDeadLetters(h.timeMs, 10), h.sm.dueDeadLetters(h.timeMs, 10));
  });

  test('a source queue that is on this set by now gets its dead letters back locally', () => {
    const h = dlqSet();
    h.ok({ kind: 'createQueue', queueName: 'src', attrs: {} });
    const r = h.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 10 });
    assert.equal(r.moved, 2);
    assert.deepEqual(h.sm.dueDeadLetters(h.timeMs, 10), []);
    assert.equal(h.sm.getQueueAttributes('src')!.activeMsgNum, 2);
  });

  test('a named destination on another set: every message leaves through the outbox, the task remembers it', () => {
    const h = dlqSet();
    const started = h.ok({ kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: 'elsewhere', maxPerSecond: null, remoteDestination: true });
    assert.equal(started.task.remoteDestination, true);
    const r = h.ok({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 10, taskHandle: started.taskHandle });
    assert.equal(r.moved, 3);
    assert.equal(r.task?.status, 'COMPLETED');
    assert.deepEqual(new Set(h.sm.dueDeadLetters(h.timeMs, 10).map((d) => d.destinationQueue)), new Set(['elsewhere']));
    // Without the flag the same destination is a queue that does not exist here.
    const h2 = dlqSet();
    const e = h2.run({ kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: 'elsewhere', maxPerSecond: null });
    assert.equal(e.ok ? undefined : e.error, 'queueNotExist');
    // The task survives a snapshot.
    const restored = QueueStateMachine.restore(h.sm.snapshot());
    const tasks = restored.listMoveTasks('dlq');
    assert.ok(Array.isArray(tasks) && tasks[0]?.remoteDestination === true);
  });

  test('the remembered sources survive a snapshot: a restored machine still sends them back', () => {
    const h = dlqSet();
    const r = QueueStateMachine.restore(h.sm.snapshot());
    const e = encodeCommand({ kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: null, maxMessages: 10 });
    const res = r.apply(h.index + 1, h.timeMs, e.payload, e.metaLen);
    assert.ok(res.ok && res.kind === 'moveMessages' && res.moved === 2, JSON.stringify(res));
    assert.equal(r.dueDeadLetters(h.timeMs, 10).length, 2);
  });

  test('codec: the new fields round-trip and are absent from the bytes unless set; older replicas cannot apply them', () => {
    const move: Command = { kind: 'moveMessages', sourceQueue: 'dlq', destinationQueue: 'x', maxMessages: 5 };
    const start: Command = { kind: 'startMoveTask', sourceQueue: 'dlq', destinationQueue: 'x', maxPerSecond: 3 };
    const send: Command = { kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [Buffer.from('b')], options: [{ dedupId: 'k' }] };
    for (const [plain, flagged] of [
      [move, { ...move, remoteDestination: true }],
      [start, { ...start, remoteDestination: true }],
    ] as const) {
      const a = encodeCommand(plain);
      const b = encodeCommand(flagged);
      assert.deepEqual(decodeCommand(b.payload, b.metaLen), flagged);
      assert.deepEqual(decodeCommand(a.payload, a.metaLen), plain);
      assert.equal(b.metaLen, a.metaLen + 1);
      assert.deepEqual(Buffer.from(b.payload.subarray(0, a.metaLen)), Buffer.from(a.payload.subarray(0, a.metaLen)));
      const bad = Uint8Array.from(b.payload);
      bad[b.metaLen - 1] = 2;
      assert.throws(() => decodeCommand(bad, b.metaLen), BrokerFormatError);
    }
    const tagged: Command = { kind: 'sendMessages', queueName: 'dlq', delaySeconds: 0, bodies: [Buffer.from('b')], options: [{ dedupId: 'k', deadLetterSource: 'src' }] };
    const t = encodeCommand(tagged);
    const decoded = decodeCommand(t.payload, t.metaLen);
    assert.ok(decoded.kind === 'sendMessages');
    assert.deepEqual(decoded.options, [{ dedupId: 'k', deadLetterSource: 'src' }]);
    assert.ok(!Buffer.from(encodeCommand(send).payload).toString('latin1').includes('src'));
    assert.equal(forOlderReplicas(tagged), undefined, 'the source cannot be dropped: the redrive would lose its way');
  });
});
