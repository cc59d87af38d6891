// The worker thread of ./body-digests.ts: hashes the bodies the event loop hands over, in order,
// into the shared digest slots, and sleeps when there are none. The memory layout is described
// there.

import { hash } from 'node:crypto';
import { workerData } from 'node:worker_threads';

import { ASLEEP, BUSY, DONE, INDEX_MASK, STOP, TAIL, type DigestMemory } from './body-digests';

const memory = workerData as DigestMemory;
const control = new Int32Array(memory.control);
const jobs = new Int32Array(memory.jobs);
const ring = Buffer.from(memory.ring);
const digests = Buffer.from(memory.digests);
const tags = new Int32Array(memory.tags);
const slots = tags.length;
/**
 * While bodies keep coming the worker looks for more every millisecond without being woken (a
 * wake-up per request costs the event loop more than the digests save): an answer is due a disk
 * flush after its bodies were handed over, so most digests are ready by then, and the others are
 * made there. After IDLE_MS without a body it sleeps until the next body wakes it.
 */
const POLL_MS = 1;
const IDLE_MS = 100;

let done = Atomics.load(control, DONE);
let idleSince = performance.now();
for (;;) {
  const tail = Atomics.load(control, TAIL);
  if (done !== tail) {
    const slot = done % slots;
    const at = jobs[2 * slot]!;
    const length = jobs[2 * slot + 1]!;
    // The slot is marked while its digest is rewritten, so a reader of the slot's previous job
    // sees the change and makes that digest itself.
    Atomics.store(tags, slot, BUSY);
    digests.set(hash('md5', ring.subarray(at, at + length), 'buffer'), slot * 16);
    Atomics.store(tags, slot, done);
    done = (done + 1) & INDEX_MASK;
    // The body's ring space may be reused once this is seen.
    Atomics.store(control, DONE, done);
    idleSince = -1;
    continue;
  }
  if (Atomics.load(control, STOP) === 1) break;
  const now = performance.now();
  if (idleSince < 0) idleSince = now;
  if (now - idleSince < IDLE_MS) {
    Atomics.wait(control, TAIL, tail, POLL_MS);
    continue;
  }
  // Asleep is announced before the last look, so a body handed over meanwhile is either seen
  // here or followed by a wake-up.
  Atomics.store(control, ASLEEP, 1);
  if (Atomics.load(control, TAIL) === tail && Atomics.load(control, STOP) === 0) Atomics.wait(control, TAIL, tail);
  Atomics.store(control, ASLEEP, 0);
  idleSince = -1;
}
