// The MD5 of every message body a send answers with (MD5OfMessageBody, which the AWS SDKs check).
// At 1 KiB it costs about as much of the event loop as everything else SQS adds to a send, yet
// the answer needs it only after the messages are committed, a disk flush later. So the digests
// can be made on another thread meanwhile: `startDigestWorker` copies each body into memory it
// shares with one worker thread, which hashes them in order; when the answer is due the digest
// is read from shared memory, or made on the spot if the worker has not got to it (busy, behind,
// or gone). Either way the answer holds the same digest, so the worker only moves work off the
// event loop and can never change an answer.
//
// Shared memory (every index and count wraps at 2^31, so they stay valid Int32 values):
//   control  Int32[4]  TAIL (bodies handed over), DONE (bodies hashed), STOP, ASLEEP
//   jobs     Int32[SLOTS * 2]  per slot: the body's offset and length in the ring
//   ring     bytes     the bodies, written circularly; a body never wraps around the end
//   digests  bytes[SLOTS * 16], tags Int32[SLOTS]: the digest of a slot and the job it belongs
//            to (BUSY while the worker writes it), so a reader never takes another job's digest

import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { md5OfBody } from './md5';

/** The digests of one request's bodies, each made by the worker or, failing that, on the spot. */
export interface PendingDigests {
  /** Hex MD5 of the i-th body given to `start`. */
  digest(i: number): string;
}

export interface BodyDigester {
  /** Hand over the bodies whose digests the answer will need (they must not change meanwhile). */
  start(bodies: readonly Uint8Array[]): PendingDigests;
  close(): Promise<void>;
}

/** Every digest made on the event loop when asked for: tests, and servers without the worker. */
export const INLINE_DIGESTS: BodyDigester = {
  start: (bodies) => ({ digest: (i) => md5OfBody(bodies[i]!) }),
  close: () => Promise.resolve(),
};

export const TAIL = 0;
export const DONE = 1;
export const STOP = 2;
/** Set by a worker that has slept through its idle time and now waits for a wake-up. */
export const ASLEEP = 3;
/** The tag of a slot whose digest is being written. */
export const BUSY = -1;
export const INDEX_MASK = 0x7fffffff;
const DIGEST_BYTES = 16;

export interface DigestMemory {
  control: SharedArrayBuffer;
  jobs: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  digests: SharedArrayBuffer;
  tags: SharedArrayBuffer;
}

export interface DigestWorkerOptions {
  /** Bodies in flight at once (default 4096). */
  slots?: number;
  /** Bytes of bodies in flight at once (default 8 MiB); a body that does not fit is digested on the spot. */
  ringBytes?: number;
}

/**
 * A digester whose hashing is done by one worker thread (the event loop only copies bodies into
 * shared memory). The thread does not keep the process alive; `close` stops it.
 */
export function startDigestWorker(opts: DigestWorkerOptions = {}): BodyDigester {
  return new SharedMemoryDigester(opts.slots ?? 4096, opts.ringBytes ?? 8 * 1024 * 1024);
}

class SharedMemoryDigester implements BodyDigester {
  private readonly control: Int32Array;
  private readonly jobs: Int32Array;
  private readonly ring: Uint8Array;
  private readonly digestBytes: Buffer;
  private readonly tags: Int32Array;
  private readonly worker: Worker;
  /** Where the next body goes in the ring, and the next job's index. */
  private writeAt = 0;
  private tail = 0;
  private gone = false;

  constructor(
    private readonly slots: number,
    private readonly ringBytes: number,
  ) {
    const memory: DigestMemory = {
      control: new SharedArrayBuffer(4 * 4),
      jobs: new SharedArrayBuffer(slots * 2 * 4),
      ring: new SharedArrayBuffer(ringBytes),
      digests: new SharedArrayBuffer(slots * DIGEST_BYTES),
      tags: new SharedArrayBuffer(slots * 4),
    };
    this.control = new Int32Array(memory.control);
    this.jobs = new Int32Array(memory.jobs);
    this.ring = new Uint8Array(memory.ring);
    this.digestBytes = Buffer.from(memory.digests);
    this.tags = new Int32Array(memory.tags);
    this.tags.fill(BUSY);
    this.worker = new Worker(path.join(__dirname, 'digest-worker.js'), { workerData: memory });
    this.worker.unref();
    // A worker that failed or stopped hashes nothing more: every digest is then made on the spot.
    const stop = (): void => {
      this.gone = true;
    };
    this.worker.on('error', stop);
    this.worker.on('exit', stop);
  }

  start(bodies: readonly Uint8Array[]): PendingDigests {
    const jobs = bodies.map((b) => this.handOver(b));
    return { digest: (i) => this.read(jobs[i]!) ?? md5OfBody(bodies[i]!) };
  }

  close(): Promise<void> {
    this.gone = true;
    Atomics.store(this.control, STOP, 1);
    Atomics.notify(this.control, TAIL);
    return this.worker.terminate().then(() => undefined);
  }

  /** The job index of a body handed to the worker, or -1 when it was not (no room, or no worker). */
  private handOver(body: Uint8Array): number {
    if (this.gone) return -1;
    const done = Atomics.load(this.control, DONE);
    const inFlight = (this.tail - done) & INDEX_MASK;
    if (inFlight >= this.slots) return -1;
    const at = this.placeFor(body.length, inFlight === 0 ? undefined : this.jobs[2 * (done % this.slots)]!);
    if (at === undefined) return -1;
    this.ring.set(body, at);
    const job = this.tail;
    const slot = job % this.slots;
    this.jobs[2 * slot] = at;
    this.jobs[2 * slot + 1] = body.length;
    this.writeAt = at + body.length;
    this.tail = (job + 1) & INDEX_MASK;
    Atomics.store(this.control, TAIL, this.tail);
    // Under load the worker looks for bodies every millisecond on its own; after an idle spell it
    // sleeps until woken (an idle server's thread costs nothing), and the first body wakes it.
    if (Atomics.load(this.control, ASLEEP) === 1) Atomics.notify(this.control, TAIL);
    return job;
  }

  /**
   * Where a body of `length` bytes can go: after the last one, or from the start of the ring when
   * it does not fit before the end, but never over a body the worker has still to read (the
   * oldest of those starts at `oldest`; undefined when the worker has read them all).
   */
  private placeFor(length: number, oldest: number | undefined): number | undefined {
    if (oldest === undefined) {
      if (length > this.ringBytes) return undefined;
      return this.writeAt + length <= this.ringBytes ? this.writeAt : 0;
    }
    if (this.writeAt > oldest) {
      if (this.writeAt + length <= this.ringBytes) return this.writeAt;
      return length < oldest ? 0 : undefined;
    }
    return this.writeAt + length < oldest ? this.writeAt : undefined;
  }

  /** The worker's digest of a job, or undefined when it has none (not yet, or the slot moved on). */
  private read(job: number): string | undefined {
    if (job < 0) return undefined;
    const slot = job % this.slots;
    if (Atomics.load(this.tags, slot) !== job) return undefined;
    const hex = this.digestBytes.toString('hex', slot * DIGEST_BYTES, (slot + 1) * DIGEST_BYTES);
    // Still this job's after the copy: the worker did not start on the slot's next job meanwhile.
    return Atomics.load(this.tags, slot) === job ? hex : undefined;
  }
}
