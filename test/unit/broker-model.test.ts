// Model-based test: fast-check generates random sends, receives, deletes, time advances, visibility
// changes and rewinds over three queues (one dead-letters into another, one keeps a rewind area).
// A plain-array model of CMQ semantics must agree with the state machine on every result, counter
// and deadline; an independent history checker asserts the delivery invariants.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult, QueueAttributesInput, ReceivedMessage } from '../../src/broker/commands';
import { QueueStateMachine } from '../../src/broker/state-machine';

type State = 'visible' | 'inflight' | 'delayed' | 'rewind' | 'gone';

interface ModelMsg {
  msgId: string;
  body: string;
  entryIndex: number;
  enqueueMs: number;
  state: State;
  dueMs: number;
  visibleAtMs: number;
  dequeueCount: number;
  firstDequeueMs: number;
  latestHandle: string | undefined;
}

interface ModelQueue {
  name: string;
  visibilityTimeout: number;
  retentionSec: number;
  rewindSec: number;
  dlq?: { name: string; maxReceiveCount: number };
  msgs: ModelMsg[]; // in enqueue (seq) order
}

const sec = (ms: number): number => Math.floor(ms / 1000);

class Model {
  queues: ModelQueue[];
  handles = new Map<string, { queue: string; msg: ModelMsg }>();

  constructor(queues: ModelQueue[]) {
    this.queues = queues;
  }

  q(name: string): ModelQueue {
    const q = this.queues.find((x) => x.name === name);
    assert.ok(q);
    return q;
  }

  advance(nowMs: number): void {
    for (const q of this.queues) {
      for (const m of q.msgs) {
        if (m.state === 'gone') continue;
        if (m.enqueueMs + q.retentionSec * 1000 <= nowMs) m.state = 'gone';
        else if (m.state === 'delayed' && m.dueMs <= nowMs) m.state = 'visible';
        else if (m.state === 'inflight' && m.visibleAtMs <= nowMs) m.state = 'visible';
      }
    }
  }

  send(name: string, entryIndex: number, nowMs: number, bodies: string[], delaySec: number): string[] {
    return bodies.map((body, i) => {
      const msgId = String(entryIndex * 16 + i);
      const state: State = delaySec > 0 ? 'delayed' : 'visible';
      this.q(name).msgs.push({ msgId, body, entryIndex, enqueueMs: nowMs, state, dueMs: nowMs + delaySec * 1000, visibleAtMs: 0, dequeueCount: 0, firstDequeueMs: -1, latestHandle: undefined });
      return msgId;
    });
  }

  /** The messages a receive must return, in order (before handles are known). */
  receive(name: string, nowMs: number, n: number): ModelMsg[] {
    const q = this.q(name);
    const out: ModelMsg[] = [];
    for (const m of q.msgs) {
      if (out.length === n) break;
      if (m.state !== 'visible') continue;
      if (q.dlq && m.dequeueCount + 1 > q.dlq.maxReceiveCount) {
        m.state = 'gone';
        this.q(q.dlq.name).msgs.push({ ...m, enqueueMs: nowMs, state: 'visible', dequeueCount: 0, firstDequeueMs: -1, latestHandle: undefined });
        continue;
      }
      m.state = 'inflight';
      m.dequeueCount++;
      if (m.firstDequeueMs < 0) m.firstDequeueMs = nowMs;
      m.visibleAtMs = nowMs + q.visibilityTimeout * 1000;
      out.push(m);
    }
    return out;
  }

  deleteFailures(name: string, nowMs: number, handles: string[]): number[] {
    const q = this.q(name);
    const failures: number[] = [];
    handles.forEach((h, i) => {
      const reg = this.handles.get(h);
      const m = reg?.msg;
      if (!reg || reg.queue !== name || !m || m.state !== 'inflight' || m.latestHandle !== h || nowMs >= m.visibleAtMs) {
        failures.push(i);
        return;
      }
      m.state = q.rewindSec > 0 ? 'rewind' : 'gone';
    });
    return failures;
  }

  rewind(name: string, nowMs: number, startSec: number): string {
    const q = this.q(name);
    if (q.rewindSec === 0) return 'rewindDisabled';
    if (startSec < sec(nowMs) - q.rewindSec || startSec > sec(nowMs)) return 'rewindTimeInvalid';
    for (const m of q.msgs) if ((m.state === 'inflight' || m.state === 'rewind') && m.enqueueMs >= startSec * 1000) m.state = 'visible';
    return 'ok';
  }

  counts(name: string): number[] {
    const msgs = this.q(name).msgs;
    const n = (s: State): number => msgs.filter((m) => m.state === s).length;
    const oldest = msgs.find((m) => m.state === 'visible' || m.state === 'inflight' || m.state === 'delayed');
    return [n('visible'), n('inflight'), n('delayed'), n('rewind'), oldest ? sec(oldest.enqueueMs) : 0];
  }

  nextDeadline(): number | undefined {
    let d = Infinity;
    for (const q of this.queues) {
      const live = q.msgs.filter((m) => m.state !== 'gone');
      if (live[0]) d = Math.min(d, live[0].enqueueMs + q.retentionSec * 1000);
      for (const m of live) {
        if (m.state === 'delayed') d = Math.min(d, m.dueMs);
        if (m.state === 'inflight') d = Math.min(d, m.visibleAtMs);
      }
    }
    return d === Infinity ? undefined : d;
  }

  liveEntries(): number[] {
    const s = new Set<number>();
    for (const q of this.queues) for (const m of q.msgs) if (m.state !== 'gone') s.add(m.entryIndex);
    return [...s].sort((a, b) => a - b);
  }
}

/** Delivery invariants, checked without the model: no double delivery within a visibility period, no delivery after delete. */
class HistoryChecker {
  private readonly seen = new Map<string, { inFlightUntilMs: number; deleted: boolean }>();

  /** A rewind legitimately redelivers a queue's deleted and in-flight messages. */
  rewound(queue: string): void {
    for (const [k, v] of this.seen) {
      if (!k.startsWith(`${queue}/`)) continue;
      v.inFlightUntilMs = 0;
      v.deleted = false;
    }
  }

  delivered(queue: string, m: ReceivedMessage, nowMs: number, visibilitySec: number): void {
    const key = `${queue}/${m.msgId}`;
    const prev = this.seen.get(key);
    if (prev) {
      assert.ok(!prev.deleted, `deleted message ${key} delivered again`);
      assert.ok(nowMs >= prev.inFlightUntilMs, `message ${key} delivered twice while in flight`);
    }
    this.seen.set(key, { inFlightUntilMs: nowMs + visibilitySec * 1000, deleted: false });
  }

  deleted(queue: string, msgId: string): void {
    const v = this.seen.get(`${queue}/${msgId}`);
    assert.ok(v);
    v.deleted = true;
  }
}

type Op =
  | { t: 'send'; q: number; n: number; delay: number }
  | { t: 'recv'; q: number; n: number; seed: number }
  | { t: 'del'; q: number; picks: number[] }
  | { t: 'adv'; ms: number }
  | { t: 'vis'; q: number; vt: number }
  | { t: 'rewind'; q: number; back: number };

const NAMES = ['src', 'rw', 'dlq'];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('send' as const), q: fc.integer({ min: 0, max: 2 }), n: fc.integer({ min: 1, max: 4 }), delay: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 })) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('recv' as const), q: fc.integer({ min: 0, max: 2 }), n: fc.integer({ min: 1, max: 16 }), seed: fc.integer({ min: 0, max: 0xffff_ffff }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), q: fc.integer({ min: 0, max: 2 }), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('adv' as const), ms: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(1000, 2000, 60_000)) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('vis' as const), q: fc.integer({ min: 0, max: 2 }), vt: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rewind' as const), q: fc.integer({ min: 0, max: 2 }), back: fc.integer({ min: 0, max: 130 }) }) },
);

const setupArb: fc.Arbitrary<Setup> = fc.record({
  vts: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  retention: fc.tuple(fc.integer({ min: 60, max: 120 }), fc.integer({ min: 60, max: 120 }), fc.integer({ min: 60, max: 120 })),
  maxReceiveCount: fc.integer({ min: 1, max: 3 }),
});

interface Setup {
  vts: [number, number, number];
  retention: [number, number, number];
  maxReceiveCount: number;
}

function runScenario(setup: Setup, ops: Op[]): void {
  const sm = new QueueStateMachine();
  let index = 0;
  let nowMs = 1_700_000_000_000;
  const payloads = new Map<number, Uint8Array>();
  const run = (cmd: Command): CommandResult => {
    const { payload, metaLen } = encodeCommand(cmd);
    payloads.set(++index, payload);
    return sm.apply(index, nowMs, payload, metaLen);
  };
  const queues: ModelQueue[] = NAMES.map((name, i) => ({ name, visibilityTimeout: setup.vts[i]!, retentionSec: setup.retention[i]!, rewindSec: 0, msgs: [] }));
  queues[1]!.rewindSec = setup.retention[1]!;
  queues[0]!.dlq = { name: 'dlq', maxReceiveCount: setup.maxReceiveCount };
  const model = new Model(queues);
  const history = new HistoryChecker();
  for (const q of [queues[2]!, queues[0]!, queues[1]!]) {
    const attrs: QueueAttributesInput = { visibilityTimeout: q.visibilityTimeout, msgRetentionSeconds: q.retentionSec, rewindSeconds: q.rewindSec };
    if (q.dlq) attrs.deadLetterPolicy = { deadLetterQueue: q.dlq.name, policy: 0, maxReceiveCount: q.dlq.maxReceiveCount };
    assert.ok(run({ kind: 'createQueue', queueName: q.name, attrs }).ok);
  }
  const handlePool: string[] = [];
  let bodyNo = 0;

  ops.forEach((op, step) => {
    if (op.t === 'adv') nowMs += op.ms;
    model.advance(nowMs);
    const name = 'q' in op ? NAMES[op.q]! : '';
    switch (op.t) {
      case 'adv':
        assert.deepEqual(run({ kind: 'tick' }), { ok: true, kind: 'tick' });
        break;
      case 'send': {
        const bodies = Array.from({ length: op.n }, () => `body-${bodyNo++}`);
        const r = run({ kind: 'sendMessages', queueName: name, delaySeconds: op.delay, bodies: bodies.map((b) => Buffer.from(b)) });
        const msgIds = model.send(name, index, nowMs, bodies, op.delay);
        assert.deepEqual(r, { ok: true, kind: 'sendMessages', msgIds });
        break;
      }
      case 'recv': {
        const r = run({ kind: 'receiveMessages', queueName: name, numOfMsg: op.n, seed: op.seed });
        assert.ok(r.ok && r.kind === 'receiveMessages');
        const want = model.receive(name, nowMs, op.n);
        assert.deepEqual(
          r.messages.map((m) => m.msgId),
          want.map((m) => m.msgId),
          `step ${step}: received ids`,
        );
        r.messages.forEach((got, k) => {
          const m = want[k]!;
          const p = payloads.get(got.body.entryIndex)!;
          assert.equal(Buffer.from(p.subarray(got.body.offset, got.body.offset + got.body.length)).toString(), m.body);
          assert.deepEqual(
            [got.enqueueTime, got.firstDequeueTime, got.nextVisibleTime, got.dequeueCount],
            [sec(m.enqueueMs), sec(m.firstDequeueMs), sec(m.visibleAtMs), m.dequeueCount],
          );
          assert.ok(!model.handles.has(got.receiptHandle), 'handles are never reused');
          m.latestHandle = got.receiptHandle;
          model.handles.set(got.receiptHandle, { queue: name, msg: m });
          handlePool.push(got.receiptHandle);
          history.delivered(name, got, nowMs, model.q(name).visibilityTimeout);
        });
        break;
      }
      case 'del': {
        const handles = op.picks.map((p) => handlePool[handlePool.length - 1 - (p % (handlePool.length + 1))] ?? `0-${p}-1-${p}`);
        const want = model.deleteFailures(name, nowMs, handles);
        const r = run({ kind: 'deleteMessages', queueName: name, receiptHandles: handles });
        assert.ok(r.ok && r.kind === 'deleteMessages');
        assert.deepEqual(
          r.failures.map((f) => f.index),
          want,
          `step ${step}: delete failures`,
        );
        handles.forEach((h, i) => {
          if (!want.includes(i)) history.deleted(name, model.handles.get(h)!.msg.msgId);
        });
        break;
      }
      case 'vis': {
        const r = run({ kind: 'setQueueAttributes', queueName: name, attrs: { visibilityTimeout: op.vt } });
        assert.ok(r.ok);
        model.q(name).visibilityTimeout = op.vt;
        break;
      }
      case 'rewind': {
        const start = sec(nowMs) - op.back;
        const r = run({ kind: 'rewindQueue', queueName: name, startConsumeTimeSec: start });
        const want = model.rewind(name, nowMs, start);
        assert.equal(r.ok ? 'ok' : r.error, want);
        if (want === 'ok') history.rewound(name);
        break;
      }
    }
    // Counters, deadlines and liveness agree with the model after every step.
    const totals = { visible: 0, inFlight: 0, delayed: 0, rewind: 0 };
    for (const q of NAMES) {
      const a = sm.getQueueAttributes(q)!;
      const got = [a.activeMsgNum, a.inactiveMsgNum, a.delayMsgNum, a.rewindMsgNum, a.minMsgTime];
      assert.deepEqual(got, model.counts(q), `step ${step}: counters of ${q}`);
      assert.equal(sm.visibleCount(q), a.activeMsgNum);
      totals.visible += a.activeMsgNum;
      totals.inFlight += a.inactiveMsgNum;
      totals.delayed += a.delayMsgNum;
      totals.rewind += a.rewindMsgNum;
    }
    assert.deepEqual(sm.stats().messages, totals);
    assert.equal(sm.nextDeadlineMs(), model.nextDeadline(), `step ${step}: next deadline`);
    assert.deepEqual(sm.liveEntryIndexes(), model.liveEntries());
  });
}

test('the state machine agrees with a simple model on random operation sequences', () => {
  fc.assert(
    fc.property(setupArb, fc.array(opArb, { minLength: 1, maxLength: 120 }), (setup, ops) => runScenario(setup, ops)),
    { numRuns: 300 },
  );
});

test('a long scenario with many messages agrees with the model', () => {
  fc.assert(
    fc.property(setupArb, fc.array(opArb, { minLength: 300, maxLength: 400 }), (setup, ops) => runScenario(setup, ops)),
    { numRuns: 15 },
  );
});
