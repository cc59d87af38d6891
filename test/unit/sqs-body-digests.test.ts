// The digests of sent bodies made on a worker thread (src/api/sqs/body-digests.ts): every digest
// is the body's MD5 whether the worker made it or the event loop did, the worker really makes
// them, and a worker that is behind, gone, or handed a body too large for its ring changes no
// answer.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { startDigestWorker, type BodyDigester, type PendingDigests } from '../../src/api/sqs/body-digests';

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/**
 * Bodies whose digests were taken from the worker: each body is changed after it was handed over,
 * so a digest made on the spot would be of the changed bytes, and the worker's of the original.
 */
function workerDigests(d: BodyDigester, bodies: Buffer[]): { pending: PendingDigests; originals: string[] } {
  const originals = bodies.map(md5);
  const pending = d.start(bodies);
  for (const b of bodies) b.fill(0);
  return { pending, originals };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(2);
  }
}

test('the worker makes the digests of the bodies handed over, as they were then', async () => {
  const d = startDigestWorker();
  try {
    const bodies = Array.from({ length: 10 }, (_, i) => randomBytes(100 + i * 97));
    const { pending, originals } = workerDigests(d, bodies);
    // Made by the worker: the bodies now hold zeros, whose digest would differ.
    await until(() => pending.digest(9) === originals[9]);
    assert.deepEqual(
      bodies.map((_, i) => pending.digest(i)),
      originals,
    );
  } finally {
    await d.close();
  }
});

test('many bodies through a small ring and few slots: every digest is right, from whoever made it', async () => {
  const d = startDigestWorker({ slots: 8, ringBytes: 4096 });
  try {
    const all: { pending: PendingDigests; bodies: Buffer[]; want: string[] }[] = [];
    for (let r = 0; r < 200; r++) {
      const bodies = Array.from({ length: 1 + (r % 10) }, () => randomBytes(1 + Math.floor(Math.random() * 900)));
      all.push({ pending: d.start(bodies), bodies, want: bodies.map(md5) });
      if (r % 7 === 0) await sleep(1);
    }
    // Early requests' slots were reused by later ones: their digests are made on the spot.
    for (const { pending, bodies, want } of all) assert.deepEqual(bodies.map((_, i) => pending.digest(i)), want);
  } finally {
    await d.close();
  }
});

test('a worker that wakes from its idle sleep picks up new bodies', async () => {
  const d = startDigestWorker();
  try {
    await sleep(300); // past its idle time: asleep until woken
    const { pending, originals } = workerDigests(d, [randomBytes(1024)]);
    await until(() => pending.digest(0) === originals[0]);
  } finally {
    await d.close();
  }
});

test('a body larger than the ring, and any body after close, get their digest on the spot', async () => {
  const d = startDigestWorker({ ringBytes: 1024 });
  const big = randomBytes(2048);
  const p = d.start([big]);
  assert.equal(p.digest(0), md5(big));
  await d.close();
  const after = randomBytes(500);
  assert.equal(d.start([after]).digest(0), md5(after));
});
