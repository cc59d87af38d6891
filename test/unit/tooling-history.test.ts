// The client-history checker (test/helpers/history.ts), on hand-built histories: each rule with a
// history it must flag and histories it must not.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { formatViolations, History, type CheckOptions, type ViolationKind } from '../helpers/history';

const V = 10_000;
const OPTS: CheckOptions = { visibilityTimeoutMs: V };
/** A round wall-clock origin, so nextVisibleTime (seconds) is easy to compute by hand. */
const T0 = 1_700_000_000_000;

/** nextVisibleTime a correct server reports for a receive stamped at `stampMs`. */
const nvt = (stampMs: number): number => Math.floor((stampMs + V) / 1000);

/** A history with `body` sent and acknowledged at T0..T0+10. */
function sent(...bodies: string[]): History {
  const h = new History();
  for (const b of bodies) {
    h.sendInvoked(b, T0);
    h.sendAcked(b, `id-${b}`, T0 + 10);
  }
  return h;
}

/** Record a receive whose request ran from startMs to endMs, stamped by the server at stampMs. */
function receive(h: History, body: string, handle: string, startMs: number, endMs: number, stampMs = startMs, dequeueCount = 1): void {
  h.received(body, handle, { nextVisibleTime: nvt(stampMs), dequeueCount, startMs }, endMs);
}

function kinds(h: History, drain: string[] = [], opts: CheckOptions = OPTS): ViolationKind[] {
  return h.check(drain, opts).map((v) => v.kind);
}

describe('history checker: a correct history', () => {
  test('send, receive, delete; a redelivery after the window; an undeleted message drained: no violations', () => {
    const h = sent('a', 'b', 'c');
    receive(h, 'a', 'ha1', T0 + 100, T0 + 110);
    h.deleteAcked('ha1', T0 + 120);
    // b: first holder never deletes; redelivered after its window, then deleted.
    receive(h, 'b', 'hb1', T0 + 100, T0 + 110);
    receive(h, 'b', 'hb2', T0 + 100 + V, T0 + 110 + V, T0 + 100 + V, 2);
    h.deleteAcked('hb2', T0 + 120 + V);
    // c: received, not deleted, back in the final drain.
    receive(h, 'c', 'hc1', T0 + 100, T0 + 110);
    const violations = h.check(['c'], { ...OPTS, drainIsComplete: true });
    assert.deepEqual(violations, [], formatViolations(violations));
  });

  test('summary and firstSendAckAfter', () => {
    const h = new History();
    h.sendInvoked('x', T0);
    h.sendAcked('x', 'id', T0 + 5);
    h.sendInvoked('y', T0 + 10);
    h.sendFailed('y', 'timeout', T0 + 20);
    h.sendInvoked('z', T0 + 30);
    h.sendAcked('z', 'id2', T0 + 40);
    h.sendInvoked('w', T0 + 50);
    receive(h, 'x', 'hx', T0 + 50, T0 + 60);
    h.deleteFailed('hx', 'timeout', T0 + 70);
    assert.deepEqual(h.summary(), { sendsInvoked: 4, sendsAcked: 2, sendsFailed: 1, sendsNotApplied: 0, receives: 1, deletesAcked: 0, deletesFailed: 1 });
    assert.equal(h.firstSendAckAfter(T0 + 5), T0 + 40);
    assert.equal(h.firstSendAckAfter(T0), T0 + 5);
    assert.equal(h.firstSendAckAfter(T0 + 40), undefined);
  });

  test('recording mistakes throw at once', () => {
    const h = sent('a');
    assert.throws(() => h.sendInvoked('a'), /unique/);
    assert.throws(() => h.sendAcked('nope', 'id'), /never invoked/);
    assert.throws(() => h.sendFailed('a', 'x'), /already acked/);
    assert.throws(() => h.deleteAcked('unknown-handle'), /no receive returned/);
    assert.throws(() => h.deleteFailed('unknown-handle'), /no receive returned/);
  });
});

describe('history checker (a): lost acknowledged sends', () => {
  test('an acknowledged send never received is lost', () => {
    const h = sent('a', 'b');
    receive(h, 'b', 'hb', T0 + 100, T0 + 110);
    const v = h.check([], OPTS);
    assert.deepEqual(
      v.map((x) => [x.kind, x.body]),
      [['lost', 'a']],
    );
  });

  test('an acknowledged send seen only in the final drain is not lost', () => {
    assert.deepEqual(kinds(sent('a'), ['a']), []);
  });

  test('failed (unknown) and still pending sends may be missing', () => {
    const h = new History();
    h.sendInvoked('failed', T0);
    h.sendFailed('failed', 'timeout', T0 + 5000);
    h.sendInvoked('pending', T0);
    assert.deepEqual(kinds(h, [], { ...OPTS, drainIsComplete: true }), []);
  });

  test('a send answered "not applied" (6100) and never delivered is fine; counted apart from unknown ones', () => {
    const h = new History();
    h.sendInvoked('n', T0);
    h.sendNotApplied('n', 'code 6100', T0 + 10);
    h.sendInvoked('u', T0);
    h.sendFailed('u', 'code 6000 (10810)', T0 + 10);
    assert.deepEqual(kinds(h, [], { ...OPTS, drainIsComplete: true }), []);
    assert.equal(h.summary().sendsNotApplied, 1);
    assert.equal(h.summary().sendsFailed, 1);
  });

  test('a send answered "not applied" (6100) that was received anyway is flagged', () => {
    const h = new History();
    h.sendInvoked('n', T0);
    h.sendNotApplied('n', 'code 6100', T0 + 10);
    receive(h, 'n', 'hn', T0 + 100, T0 + 110);
    h.deleteAcked('hn', T0 + 120);
    assert.deepEqual(kinds(h), ['notAppliedDelivered']);
  });

  test('a send answered "not applied" (6100) found in the final drain is flagged', () => {
    const h = new History();
    h.sendInvoked('n', T0);
    h.sendNotApplied('n', 'code 6100', T0 + 10);
    assert.deepEqual(kinds(h, ['n']), ['notAppliedDelivered']);
  });

  test('a failed send that did arrive is fine', () => {
    const h = new History();
    h.sendInvoked('f', T0);
    h.sendFailed('f', 'timeout', T0 + 5000);
    receive(h, 'f', 'hf', T0 + 100, T0 + 200);
    h.deleteAcked('hf', T0 + 300);
    assert.deepEqual(kinds(h, [], { ...OPTS, drainIsComplete: true }), []);
  });

  test('with a complete drain, a received but never-deleted message must be in it', () => {
    const h = sent('a');
    receive(h, 'a', 'ha', T0 + 100, T0 + 110);
    assert.deepEqual(kinds(h, [], { ...OPTS, drainIsComplete: true }), ['lost']);
    assert.deepEqual(kinds(h, [], OPTS), [], 'without drainIsComplete, having been received is enough');
  });

  test('with a complete drain, a message whose delete failed may be missing', () => {
    const h = sent('a');
    receive(h, 'a', 'ha', T0 + 100, T0 + 110);
    h.deleteFailed('ha', 'timeout', T0 + 5000);
    assert.deepEqual(kinds(h, [], { ...OPTS, drainIsComplete: true }), []);
    assert.deepEqual(kinds(h, ['a'], { ...OPTS, drainIsComplete: true }), []);
  });
});

describe('history checker (b): phantoms', () => {
  test('a received body that was never sent is a phantom (reported once)', () => {
    const h = sent('a');
    receive(h, 'a', 'ha', T0 + 100, T0 + 110);
    receive(h, 'ghost', 'hg1', T0 + 100, T0 + 110);
    receive(h, 'ghost', 'hg2', T0 + 100 + V, T0 + 110 + V);
    assert.deepEqual(kinds(h, ['ghost']), ['phantom']);
  });

  test('a body in the final drain that was never sent is a phantom', () => {
    assert.deepEqual(kinds(sent('a'), ['a', 'ghost']), ['phantom']);
  });

  test('a receive that completed before its send was even issued is a phantom', () => {
    const h = new History();
    h.received('early', 'h', { nextVisibleTime: nvt(T0), dequeueCount: 1, startMs: T0 }, T0 + 10);
    h.sendInvoked('early', T0 + 500);
    h.sendAcked('early', 'id', T0 + 510);
    assert.deepEqual(kinds(h), ['phantom']);
  });

  test('a receive concurrent with the send is fine', () => {
    const h = new History();
    h.sendInvoked('m', T0 + 50);
    h.received('m', 'h', { nextVisibleTime: nvt(T0 + 60), dequeueCount: 1, startMs: T0 }, T0 + 70);
    h.sendAcked('m', 'id', T0 + 80);
    assert.deepEqual(kinds(h), []);
  });
});

describe('history checker (c): two deliveries within one visibility period', () => {
  test('a second receive long before the first window ends is flagged', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    receive(h, 'a', 'h2', T0 + 2000, T0 + 2010, T0 + 2000, 2);
    assert.deepEqual(kinds(h), ['visibilityOverlap']);
  });

  test('two receivers handed the same message at once are flagged', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 150, T0 + 140);
    receive(h, 'a', 'h2', T0 + 105, T0 + 150, T0 + 140);
    assert.deepEqual(kinds(h), ['visibilityOverlap']);
  });

  test('flagged even when the first holder deleted it (a delete does not excuse an overlap)', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    receive(h, 'a', 'h2', T0 + 105, T0 + 130);
    h.deleteAcked('h1', T0 + 120);
    assert.ok(kinds(h).includes('visibilityOverlap'));
  });

  test('a receive just after the window is fine; a little before it is flagged', () => {
    const ok = sent('a');
    receive(ok, 'a', 'h1', T0 + 100, T0 + 110);
    receive(ok, 'a', 'h2', T0 + 100 + V - 20, T0 + 100 + V, T0 + 100 + V, 2);
    assert.deepEqual(kinds(ok), []);

    const bad = sent('a');
    receive(bad, 'a', 'h1', T0 + 100, T0 + 110);
    receive(bad, 'a', 'h2', T0 + 100 + V - 30, T0 + 100 + V - 5, T0 + 100 + V - 10, 2);
    assert.deepEqual(kinds(bad), ['visibilityOverlap']);
  });

  test('a slow receive that started inside the window but ended after it is fine', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    receive(h, 'a', 'h2', T0 + 5000, T0 + 100 + V + 1, T0 + 100 + V + 1, 2);
    assert.deepEqual(kinds(h), []);
  });

  test('the order of recording does not matter', () => {
    const h = sent('a');
    receive(h, 'a', 'h2', T0 + 2000, T0 + 2010, T0 + 2000, 2);
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    assert.deepEqual(kinds(h), ['visibilityOverlap']);
  });

  test('clockSkewMs forgives overlaps up to the skew', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    receive(h, 'a', 'h2', T0 + 100 + V - 60, T0 + 100 + V - 50, T0 + 100 + V - 50, 2);
    assert.deepEqual(kinds(h, [], { ...OPTS, clockSkewMs: 0 }), ['visibilityOverlap']);
    assert.deepEqual(kinds(h, [], { ...OPTS, clockSkewMs: 100 }), []);
  });

  test('without request start times, nextVisibleTime (whole seconds) bounds the window', () => {
    const flagged = sent('a');
    flagged.received('a', 'h1', { nextVisibleTime: nvt(T0 + 500), dequeueCount: 1 }, T0 + 510);
    flagged.received('a', 'h2', { nextVisibleTime: nvt(T0 + 9000), dequeueCount: 2 }, T0 + 9000);
    assert.deepEqual(kinds(flagged), ['visibilityOverlap']);

    // Stamped at T0+500, the deadline is T0+10500 but reported as T0+10000 (floored): a second
    // delivery ending at T0+10200 cannot be proven early, so it is not flagged.
    const unproven = sent('a');
    unproven.received('a', 'h1', { nextVisibleTime: nvt(T0 + 500), dequeueCount: 1 }, T0 + 510);
    unproven.received('a', 'h2', { nextVisibleTime: nvt(T0 + 10_200), dequeueCount: 2 }, T0 + 10_200);
    assert.deepEqual(kinds(unproven), []);
  });

  test('the request start sharpens the bound beyond whole seconds', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 500, T0 + 510);
    h.received('a', 'h2', { nextVisibleTime: nvt(T0 + 10_200), dequeueCount: 2, startMs: T0 + 10_190 }, T0 + 10_200);
    assert.deepEqual(kinds(h), ['visibilityOverlap']);
  });

  test('three deliveries, each a window apart, are fine; a fourth squeezed between is flagged twice', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0, T0 + 10);
    receive(h, 'a', 'h2', T0 + V + 10, T0 + V + 20, T0 + V + 15, 2);
    receive(h, 'a', 'h3', T0 + 2 * V + 30, T0 + 2 * V + 40, T0 + 2 * V + 35, 3);
    assert.deepEqual(kinds(h), []);
    receive(h, 'a', 'h4', T0 + V + 500, T0 + V + 510, T0 + V + 505, 4);
    assert.deepEqual(kinds(h), ['visibilityOverlap', 'visibilityOverlap']);
  });
});

describe('history checker (d): deleted messages come back', () => {
  test('a receive issued after a delete was acknowledged is flagged', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    h.deleteAcked('h1', T0 + 200);
    receive(h, 'a', 'h2', T0 + 100 + V + 1000, T0 + 100 + V + 1010, T0 + 100 + V + 1000, 2);
    assert.deepEqual(kinds(h), ['deletedReturned']);
  });

  test('a deleted message in the final drain is flagged', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    h.deleteAcked('h1', T0 + 200);
    assert.deepEqual(kinds(h, ['a']), ['deletedReturned']);
  });

  test('a receive that may have been served before the delete took effect is not flagged as (d)', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    receive(h, 'a', 'h2', T0 + 100 + V - 5, T0 + 100 + V + 50, T0 + 100 + V + 1, 2);
    h.deleteAcked('h1', T0 + 100 + V + 40);
    assert.deepEqual(kinds(h), []);
  });

  test('after a failed (unknown) delete the message may come back', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    h.deleteFailed('h1', 'timeout', T0 + 5000);
    receive(h, 'a', 'h2', T0 + 100 + V + 1000, T0 + 100 + V + 1010, T0 + 100 + V + 1000, 2);
    assert.deepEqual(kinds(h, ['a']), []);
  });

  test('a receive without a start time is placed by its nextVisibleTime', () => {
    const h = sent('a');
    receive(h, 'a', 'h1', T0 + 100, T0 + 110);
    h.deleteAcked('h1', T0 + 200);
    h.received('a', 'h2', { nextVisibleTime: nvt(T0 + 30_000), dequeueCount: 2 }, T0 + 30_010);
    assert.deepEqual(kinds(h), ['deletedReturned']);
  });
});

describe('history checker (e): duplicates in the final drain', () => {
  test('a body drained twice is flagged once', () => {
    assert.deepEqual(kinds(sent('a', 'b'), ['a', 'b', 'a']), ['drainDuplicate']);
  });

  test('distinct drained bodies are fine', () => {
    assert.deepEqual(kinds(sent('a', 'b'), ['b', 'a']), []);
  });
});

test('formatViolations lists one per line and caps the list', () => {
  const h = sent('a', 'b', 'c');
  const v = h.check([], OPTS);
  assert.equal(v.length, 3);
  const text = formatViolations(v, 2);
  assert.equal(text.split('\n').length, 3);
  assert.match(text, /^lost "a": /);
  assert.match(text, /and 1 more/);
});
