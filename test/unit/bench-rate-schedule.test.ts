// The open-loop bench's schedule: requests fall due at fixed times, and a late wake-up hands out
// every missed request with its own scheduled time, so latencies count from the schedule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateSchedule } from '../../bench/open-loop';

test('requests fall due at start + k / rate, none before the start', () => {
  const s = new RateSchedule(1000, 500, 10); // one every 2 ms
  assert.deepEqual(s.due(999.9), []);
  assert.deepEqual(s.due(1000), [1000]);
  assert.deepEqual(s.due(1001.9), []);
  assert.equal(s.nextAtMs(), 1002);
  assert.deepEqual(s.due(1002), [1002]);
});

test('a late wake-up gets every missed request with its scheduled time, not the wake-up time', () => {
  const s = new RateSchedule(0, 1000, 100);
  assert.deepEqual(s.due(0), [0]);
  assert.deepEqual(s.due(4.5), [1, 2, 3, 4]);
  assert.equal(s.nextAtMs(), 5);
});

test('the schedule ends after count requests', () => {
  const s = new RateSchedule(0, 100, 3);
  assert.deepEqual(s.due(1e9), [0, 10, 20]);
  assert.equal(s.nextAtMs(), undefined);
  assert.deepEqual(s.due(2e9), []);
});

test('a rate that is not positive is refused', () => {
  assert.throws(() => new RateSchedule(0, 0, 1));
  assert.throws(() => new RateSchedule(0, Number.NaN, 1));
});
