// LiveSegments: which closed log segments a snapshot's live messages still need, learnt one live
// entry at a time, checked against the answer computed from the sorted set of live entries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { LiveSegments } from '../../src/node/live-segments';

test('a segment is kept exactly when a live entry falls in it; unseen segments are always kept', () => {
  const spans = [
    { firstIndex: 1, lastIndex: 10 },
    { firstIndex: 11, lastIndex: 25 },
    { firstIndex: 40, lastIndex: 50 }, // a hole before it (released earlier)
  ];
  const live = new LiveSegments(spans);
  for (const e of [12, 12, 13, 60, 5]) live.add(e);
  assert.equal(live.keeps(1, 10), true);
  assert.equal(live.keeps(11, 25), true);
  assert.equal(live.keeps(40, 50), false);
  assert.equal(live.keeps(51, 60), true, 'a segment closed after the snapshot was taken');
  assert.equal(live.keeps(40, 49), true, 'not the segment the snapshot saw');
});

test('LiveSegments agrees with a sorted list of live entries, in any order they come', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 1000 }), { maxLength: 300 }),
      (lengths, entries) => {
        const spans: { firstIndex: number; lastIndex: number }[] = [];
        let next = 1;
        for (const n of lengths) {
          spans.push({ firstIndex: next, lastIndex: next + n - 1 });
          next += n;
        }
        const live = new LiveSegments(spans);
        for (const e of entries) live.add(e);
        for (const s of spans) {
          const expected = entries.some((e) => e >= s.firstIndex && e <= s.lastIndex);
          assert.equal(live.keeps(s.firstIndex, s.lastIndex), expected);
        }
      },
    ),
  );
});
