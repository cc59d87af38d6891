// The census accounting the running member and `wal verify` share: how live messages' body bytes
// fall into segments, and what compaction and a snapshot would free of them.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { reclaimableBytes, SegmentTally, sparseSegments } from '../../src/node/segment-census';

const SPANS = [
  { firstIndex: 1, lastIndex: 10 },
  { firstIndex: 11, lastIndex: 20 },
  { firstIndex: 21, lastIndex: 30 },
  { firstIndex: 31, lastIndex: 40 },
];
const FILE_BYTES = [1000, 1000, 1000, 1000];

test('a body read by a run of messages counts once; pending pushes pin their segment but are not live message bytes', () => {
  const t = new SegmentTally(SPANS);
  t.message(3, 0, 100);
  t.message(3, 0, 100); // the same body (a fan-out): once
  t.message(3, 100, 50); // another body of the same entry
  t.message(25, 0, 200);
  t.message(99, 0, 70); // beyond the spans (a newer tail): live, in no segment
  t.push(15, 30);
  assert.equal(t.liveBytes, 100 + 50 + 200 + 70);
  assert.deepEqual(Array.from(t.live), [150, 30, 200, 0]);
  assert.deepEqual(Array.from(t.bodies), [2, 0, 1, 0], 'bodies a relocation would list (pushes are not relocated)');
});

test('sparse segments are the settled ones below the threshold that hold something; reclaimable adds their dead part to the empty ones', () => {
  const live = Float64Array.from([150, 30, 600, 0]);
  const bodies = Float64Array.from([2, 1, 5, 0]);
  assert.deepEqual(sparseSegments(FILE_BYTES, live, bodies, 0.5, () => true), [0, 1]);
  assert.deepEqual(sparseSegments(FILE_BYTES, live, bodies, 0.5, (k) => k === 0), [0], 'a segment not settled waits');
  assert.deepEqual(sparseSegments(FILE_BYTES, live, bodies, 0, () => true), [], 'compaction off');
  // 12 bodies of 10 bytes: 120 live bytes, but copying them writes 12 x (10 + overhead) > half.
  assert.deepEqual(sparseSegments(FILE_BYTES, Float64Array.from([120]), Float64Array.from([12]), 0.5, () => true), [], 'tiny bodies: a copy would be as big');
  assert.equal(reclaimableBytes(FILE_BYTES, live, [0, 1]), 1000 + 850 + 970);
  assert.equal(reclaimableBytes(FILE_BYTES, live, []), 1000);
});
