// One tick timer per host: every subscriber ticks on it, and the timer stops when the last leaves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TickScheduler } from '../../src/node/tick-scheduler';
import type { TimerHandle } from '../../src/runtime/timers';

function fakeTimers(): {
  rt: { setInterval: (fn: () => void, ms: number) => TimerHandle; clearInterval: (h: TimerHandle | undefined) => void; monotonicMs: () => number };
  fire: () => void;
  live: () => number;
  made: () => number;
  advance: (ms: number) => void;
} {
  const timers = new Map<object, () => void>();
  let made = 0;
  let now = 0;
  return {
    advance: (ms) => {
      now += ms;
    },
    rt: {
      monotonicMs: () => now,
      setInterval: (fn) => {
        const h = {};
        timers.set(h, fn);
        made++;
        return h;
      },
      clearInterval: (h) => {
        if (h) timers.delete(h);
      },
    },
    fire: () => [...timers.values()].forEach((f) => f()),
    live: () => timers.size,
    made: () => made,
  };
}

test('a tick scheduler runs one timer for all its subscribers and stops it when the last leaves', () => {
  const t = fakeTimers();
  const s = new TickScheduler(t.rt, 50);
  const seen: string[] = [];
  const offA = s.subscribe(() => seen.push('a'));
  const offB = s.subscribe(() => seen.push('b'));
  assert.equal(t.made(), 1, 'one timer for two groups');
  t.fire();
  assert.deepEqual(seen, ['a', 'b']);
  offA();
  t.fire();
  assert.deepEqual(seen, ['a', 'b', 'b']);
  offB();
  assert.equal(t.live(), 0, 'no timer once nobody listens');
  s.subscribe(() => seen.push('c'));
  assert.equal(t.made(), 2);
  assert.equal(s.tickMs, 50);
});

test('ticks that come an event-loop stall apart are reported with the gap, ordinary ones are not', () => {
  const t = fakeTimers();
  const stalls: number[] = [];
  const s = new TickScheduler(t.rt, 50, { minGapMs: 200, onStall: (gap) => stalls.push(gap) });
  s.subscribe(() => undefined);
  for (const gap of [50, 50, 70, 199, 50, 650, 50]) {
    t.advance(gap);
    t.fire();
  }
  assert.deepEqual(stalls, [650], 'the first tick has nothing to compare with; 199 ms is under the bound');
});
