// Consumer: a long-poll loop that feeds messages to an async handler with bounded concurrency.
// A message is deleted only after its handler succeeds; a failed one is left to reappear after the
// queue's visibility timeout (at-least-once). Transport and server errors are reported and retried
// with backoff; they never escape to crash the process.

import { CmqNetworkError } from './errors';
import type { CmqQueueApi, Message } from './types';
import { LIMITS } from '../protocol/limits';

export type MessageHandler = (msg: Message) => Promise<void> | void;

/** Where the consumer reports a problem: a handler failure (with its message) or a receive/delete error. */
export type ConsumerErrorHandler = (err: unknown, msg?: Message) => void;

export interface ConsumerOptions {
  queueName: string;
  handler: MessageHandler;
  /** Handlers running at once (default 1). */
  concurrency?: number;
  /** Messages asked for per receive, 1–16 (default 1); never more than the free handler slots. */
  batchSize?: number;
  /** Long-poll wait per receive, 0–30 s (default 10). */
  pollingWaitSeconds?: number;
  /** Default: writes to console.error. Exceptions thrown here are ignored. */
  onError?: ConsumerErrorHandler;
  /** First delay after a failed receive, doubled up to maxBackoffMs (defaults 200 ms and 5 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface StopOptions {
  /**
   * Abandon a long poll in progress instead of letting it finish (at most pollingWaitSeconds).
   * Messages the abandoned receive took stay hidden until their visibility timeout ends.
   */
  abortReceive?: boolean;
}

/** Delete attempts per handle batch when the network fails (a lost delete means a redelivery). */
const DELETE_ATTEMPTS = 3;
/** Pause after an empty receive when polling without a wait, so the loop does not spin. */
const EMPTY_POLL_PAUSE_MS = 200;

export class Consumer {
  private readonly client: CmqQueueApi;
  private readonly queueName: string;
  private readonly handler: MessageHandler;
  private readonly concurrency: number;
  private readonly batchSize: number;
  private readonly pollingWaitSeconds: number;
  private readonly onError: ConsumerErrorHandler;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;

  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  /** Handlers running or waiting for their delete. */
  private inFlight = 0;
  private slotFreed: (() => void) | undefined;
  private readonly idleWaiters: Array<() => void> = [];
  private pendingDeletes: Array<{ handle: string; msg: Message; done: () => void }> = [];
  private deleting = false;
  private abort: AbortController | undefined;
  private wakeSleep: (() => void) | undefined;

  constructor(client: CmqQueueApi, opts: ConsumerOptions) {
    const batchSize = opts.batchSize ?? 1;
    const concurrency = opts.concurrency ?? 1;
    const wait = opts.pollingWaitSeconds ?? 10;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > LIMITS.batchItemsMax) {
      throw new RangeError(`batchSize must be an integer in 1..${LIMITS.batchItemsMax}`);
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be a positive integer');
    if (!Number.isInteger(wait) || wait < 0 || wait > LIMITS.pollingWaitSecondsMax) {
      throw new RangeError(`pollingWaitSeconds must be an integer in 0..${LIMITS.pollingWaitSecondsMax}`);
    }
    this.client = client;
    this.queueName = opts.queueName;
    this.handler = opts.handler;
    this.concurrency = concurrency;
    this.batchSize = batchSize;
    this.pollingWaitSeconds = wait;
    this.onError = opts.onError ?? defaultOnError;
    this.minBackoffMs = opts.minBackoffMs ?? 200;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5_000;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Handlers currently running or waiting for their delete. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops receiving, then waits for running handlers and their deletes to finish. */
  async stop(opts: StopOptions = {}): Promise<void> {
    this.running = false;
    if (opts.abortReceive === true) this.abort?.abort();
    this.wakeSleep?.();
    this.slotFreed?.();
    await this.loopDone;
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async loop(): Promise<void> {
    let backoff = this.minBackoffMs;
    while (this.running) {
      if (this.inFlight >= this.concurrency) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        this.slotFreed = undefined;
        continue;
      }
      const want = Math.min(this.batchSize, this.concurrency - this.inFlight);
      let messages: Message[];
      this.abort = new AbortController();
      try {
        messages = await this.receive(want, this.abort.signal);
        backoff = this.minBackoffMs;
      } catch (err) {
        if (!this.running && err instanceof CmqNetworkError && err.kind === 'aborted') break;
        this.report(err);
        await this.pause(backoff);
        backoff = Math.min(this.maxBackoffMs, backoff * 2);
        continue;
      } finally {
        this.abort = undefined;
      }
      // Messages that arrive after stop() was called are still ours to handle.
      for (const msg of messages) this.dispatch(msg);
      if (messages.length === 0) {
        // Yield to timers and I/O even when the server answers instantly.
        await this.pause(this.pollingWaitSeconds === 0 ? EMPTY_POLL_PAUSE_MS : 0);
      }
    }
  }

  private async receive(want: number, signal: AbortSignal): Promise<Message[]> {
    const opts = { pollingWaitSeconds: this.pollingWaitSeconds, signal };
    if (want === 1) {
      const msg = await this.client.receiveMessage(this.queueName, opts);
      return msg === undefined ? [] : [msg];
    }
    return this.client.batchReceiveMessage(this.queueName, want, opts);
  }

  private dispatch(msg: Message): void {
    this.inFlight++;
    void this.handle(msg).finally(() => this.release());
  }

  private async handle(msg: Message): Promise<void> {
    try {
      await this.handler(msg);
    } catch (err) {
      // Not deleted: the message reappears after the visibility timeout.
      this.report(err, msg);
      return;
    }
    await new Promise<void>((done) => {
      this.pendingDeletes.push({ handle: msg.receiptHandle, msg, done });
      // Deferred a turn so handlers finishing together share one BatchDeleteMessage.
      if (this.pendingDeletes.length === 1) setImmediate(() => void this.flushDeletes());
    });
  }

  /** One BatchDeleteMessage at a time; handles queued meanwhile go in the next batch. */
  private async flushDeletes(): Promise<void> {
    if (this.deleting) return;
    this.deleting = true;
    try {
      while (this.pendingDeletes.length > 0) {
        const batch = this.pendingDeletes.splice(0, LIMITS.batchItemsMax);
        await this.deleteBatch(batch);
        for (const item of batch) item.done();
      }
    } finally {
      this.deleting = false;
    }
  }

  private async deleteBatch(batch: ReadonlyArray<{ handle: string; msg: Message }>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const handles = batch.map((b) => b.handle);
        if (handles.length === 1 && handles[0] !== undefined) {
          await this.client.deleteMessage(this.queueName, handles[0]);
        } else {
          const { failed } = await this.client.batchDeleteMessage(this.queueName, handles);
          for (const f of failed) {
            const item = batch.find((b) => b.handle === f.receiptHandle);
            this.report(new Error(`delete failed (${f.code}): ${f.message}`), item?.msg);
          }
        }
        return;
      } catch (err) {
        if (err instanceof CmqNetworkError && attempt < DELETE_ATTEMPTS) {
          await sleepMs(this.minBackoffMs * attempt);
          continue;
        }
        for (const b of batch) this.report(err, b.msg);
        return;
      }
    }
  }

  private release(): void {
    this.inFlight--;
    this.slotFreed?.();
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private report(err: unknown, msg?: Message): void {
    try {
      this.onError(err, msg);
    } catch {
      // A failing error reporter must not stop the consumer.
    }
  }

  /** Sleeps, but wakes at once when stop() is called. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = () => {
        this.wakeSleep = undefined;
        done();
      };
    });
  }
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function defaultOnError(err: unknown, msg?: Message): void {
  const where = msg === undefined ? '' : ` (message ${msg.msgId})`;
  console.error(`opencmq consumer error${where}:`, err);
}
