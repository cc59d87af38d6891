// One tick timer per host: every subscriber ticks on it, and the timer stops when the last leaves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TickScheduler } from '../../src/node/tick-scheduler';
import type { TimerHandle } from '../../src/runtime/timers';

function fakeTimers(): { rt: { setInterval: (fn: () => void, ms: number) => TimerHandle; clearInterval: (h: TimerHandle | undefined) => void }; fire: () => void; live: () => number; made: () => number } {
  const timers = new Map<object, () => void>();
  let made = 0;
  return {
    rt: {
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
