// The leader's push loop for topic subscriptions (spec §3.5): delivers what the broker lists as
// due, never the same push twice at once, with bounded concurrency per endpoint and overall, and
// proposes each outcome (pushSucceeded / pushFailed) so the retry schedule is replicated state.
// An http subscription's push is a POST; a remote queue subscription's is a send into that queue
// on its set (outbox.ts), with a deduplication id that stays the same across attempts and leaders.
// Delivery is at-least-once: an attempt whose outcome is not applied (stop, lost leadership) is
// simply attempted again later, by this node or by the next leader. The same loop sends the dead
// letters of queues whose dead-letter queue is on another set (broker/dead-letter-outbox.ts): a
// send into that queue like a remote queue push, settled by deadLetterSent / deadLetterFailed.

import http from 'node:http';
import https from 'node:https';

import type { BodyRef, CommandResult, DueDeadLetter, DueDelivery, DuePush } from '../broker/commands';
import { loggerFor, type Logger, type LogSink } from '../protocol/log';
import { countedBytes, decodeEnvelope } from '../service/message-envelope';
import { deadLetterDedupId, outboxDedupId, type DeliverToQueue, type QueueSendOptions } from './outbox';
import { nodeRuntime, unrefTimer } from '../runtime/node-runtime';
import { randomU32, type Runtime, type TimerHandle } from '../runtime/timers';

/** Defaults and bounds of the push loop (each one overridable through PushDeliveryOptions). */
export const PUSH_DELIVERY_LIMITS = {
  /** POSTs in flight to one endpoint origin (scheme://host:port). */
  perEndpointInFlightMax: 8,
  /** POSTs in flight overall. */
  inFlightMax: 64,
  /** Spec §3.5: no answer within about 15 s is a failed delivery. */
  requestTimeoutMs: 15_000,
  /** Longest sleep between looks at the due list (also bounds the lag behind a blocked endpoint). */
  sleepMaxMs: 1_000,
  /** Response body bytes read (and discarded) before the connection is cut. */
  responseBytesMax: 64 * 1024,
  /** Keep-alive agents kept by the default poster (least recently used idle ones are closed). */
  agentsMax: 256,
  /** An idle keep-alive socket is closed after this long. */
  idleSocketMs: 30_000,
} as const;

/**
 * `TopicOwner` in JSON push bodies. opencmq has no accounts, so it is a constant; a number, as in
 * the spec's example (its field table says String; receivers built from the example parse a
 * number). Override with PushDeliveryOptions.topicOwner.
 */
export const TOPIC_OWNER_DEFAULT = 0;

export type PushOutcomeCommand =
  | { kind: 'pushSucceeded'; topicName: string; subscriptionName: string; msgId: string }
  | { kind: 'pushFailed'; topicName: string; subscriptionName: string; msgId: string; seed: number }
  | { kind: 'deadLetterSent'; queueName: string; msgId: string }
  | { kind: 'deadLetterFailed'; queueName: string; msgId: string; gone: boolean };

/**
 * POST `body` to `url`; resolves with the response status once the response is read (or cut at a
 * size bound), rejects on a connection error, after `timeoutMs`, or when `signal` aborts.
 */
export type PushPost = (url: string, headers: Record<string, string>, body: Buffer, timeoutMs: number, signal?: AbortSignal) => Promise<{ status: number }>;

export interface PushDeliveryOptions {
  /**
   * The state machine's due pushes and dead letters (one stays listed until its
   * outcome is applied), earliest first.
   */
  dueDeliveries: (nowMs: number, limit: number) => DueDelivery[];
  /** The state machine's nextPushAttemptMs (undefined or Infinity: nothing pending). */
  nextAttemptMs: () => number | undefined;
  /** Reads a body with its CRC32C check; rejects when no intact copy can be read. */
  readBody: (ref: BodyRef) => Promise<Buffer>;
  /** Proposes an outcome; resolves once applied. A rejection or an `ok: false` result halts the loop. */
  propose: (command: PushOutcomeCommand) => Promise<CommandResult>;
  /** Clock, timers and randomness (default: the real ones). */
  runtime?: Runtime;
  /** Default: an HttpPoster (node:http / node:https, keep-alive agent per origin), closed by stop(). */
  post?: PushPost;
  /**
   * Sends a remote queue subscription's message into its queue (outbox.ts); also settable later
   * (setDeliverToQueue). Absent: such pushes are left pending (not attempted, no retry spent)
   * until it is set, here or on a later leader.
   */
  deliverToQueue?: DeliverToQueue;
  log?: LogSink;
  /** The loop stopped by itself (a proposal failed); start() may be called again. */
  onHalt?: (reason: string) => void;
  /** The value of `x-cmq-request-id` for each POST. Default: `<8 random hex>-push-<counter>`. */
  requestId?: () => string;
  topicOwner?: number | string;
  perEndpointInFlightMax?: number;
  inFlightMax?: number;
  requestTimeoutMs?: number;
  sleepMaxMs?: number;
}

export interface PushDeliveryStats {
  running: boolean;
  /** Pushes being handled (body read, POST, outcome proposal). */
  inFlight: number;
  /** Outcomes applied since construction. */
  delivered: number;
  failed: number;
  /** Bodies that could not be read (each also counted in `failed`). */
  bodyReadFailures: number;
  /** Of delivered / failed: sends into remote queues (remote queue subscriptions). */
  queueDelivered: number;
  queueFailed: number;
  /** Of queueFailed: the queue did not exist or refused the message for good. */
  queueGone: number;
  /** Dead letters taken by their dead-letter queue on another set / sends of them that failed (each retry counts). */
  deadLettersSent: number;
  deadLetterFailures: number;
  /** Of deadLetterFailures: the dead-letter queue did not exist or refused the message for good (it was dropped). */
  deadLettersGone: number;
  /** In-flight pushes per endpoint origin, or `queue:<name>` (those with none are absent). */
  perEndpointInFlight: Record<string, number>;
}

/** The request a push becomes (spec §3.5): exact headers and body, without Host/Content-Length. */
export function pushRequest(push: DuePush, body: Buffer, requestId: string, topicOwner: number | string): { headers: Record<string, string>; body: Buffer } {
  const headers: Record<string, string> = {
    'Content-Type': 'text/plain',
    'User-Agent': 'Qcloud Notification Service Agent',
    'x-cmq-request-id': headerValue(requestId),
    'x-cmq-message-id': headerValue(push.msgId),
    'x-cmq-message-tag': headerValue(push.msgTags.join(', ')),
  };
  if (push.notifyContentFormat === 'SIMPLIFIED') return { headers, body };
  const json = {
    TopicOwner: topicOwner,
    topicName: push.topicName,
    subscriptionName: push.subscriptionName,
    msgId: push.msgId,
    msgBody: body.toString('utf8'),
    publishTime: push.publishTime,
  };
  return { headers, body: Buffer.from(JSON.stringify(json), 'utf8') };
}

/**
 * Header values travel as bytes: UTF-8 (tags may be any text) put on the wire as is, which node's
 * http accepts as latin1; control characters, which HTTP forbids, become '?'.
 */
function headerValue(text: string): string {
  // eslint-disable-next-line no-control-regex
  return Buffer.from(text, 'utf8').toString('latin1').replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '?');
}

/** Where a push goes, for the per-endpoint bound: the URL's origin (the raw text if unparsable). */
export function endpointOrigin(endpoint: string): string {
  try {
    const origin = new URL(endpoint).origin;
    return origin === 'null' ? endpoint : origin;
  } catch {
    return endpoint;
  }
}

interface Task {
  key: string;
  origin: string;
  abort: AbortController;
  done: Promise<void>;
}

class Abandoned extends Error {}

/** One attempt's result: ok, or why not (gone: a remote queue missing or refusing for good). */
interface AttemptResult {
  ok: boolean;
  why: string;
  gone?: boolean;
}

/**
 * A dead letter into its dead-letter queue on another set, as a local dead-letter move makes it:
 * the same body, envelope (its message attributes) and group; deduplicated by source, msgId and
 * the entry that put it in the outbox. A dead letter says which queue it came from (so a redrive
 * can send it back); a redriven message does not (it is going back, or elsewhere), except a dead
 * letter moving with its dead-letter queue to another set, which says where it came from. A message of
 * a queue moving to another set carries its first enqueue time and whether it is kept for rewind.
 */
export function deadLetterSendOptions(d: DueDeadLetter, body: Buffer): QueueSendOptions {
  const options: QueueSendOptions = {};
  if (d.enveloped) {
    options.enveloped = true;
    // maxMsgSize limits the body and attributes as SQS counts them, not the envelope's framing.
    const e = decodeEnvelope(body);
    if (e !== undefined) options.countedBytes = countedBytes(e);
  }
  if (d.groupId !== undefined) options.groupId = d.groupId;
  if (!d.move) options.deadLetterSource = d.sourceQueue;
  else if (d.deadLetterSource !== undefined) options.deadLetterSource = d.deadLetterSource;
  if (d.moveOrigin !== undefined) options.moveOrigin = { ...d.moveOrigin };
  return options;
}

function isDeadLetter(d: DueDelivery): d is DueDeadLetter {
  return (d as Partial<DueDeadLetter>).deadLetter === true;
}

/** Where a push goes, for the per-endpoint bound and the failure log. */
function pushOrigin(push: DueDelivery): string {
  if (isDeadLetter(push)) return `queue:${push.destinationQueue}`;
  return push.remoteQueue === true ? `queue:${push.endpoint}` : endpointOrigin(push.endpoint);
}

/** One task per push or dead letter: never the same one twice at once. */
function taskKey(d: DueDelivery): string {
  return isDeadLetter(d) ? `\u0001${d.sourceQueue}\u0000${d.msgId}` : `${d.topicName}\u0000${d.subscriptionName}\u0000${d.msgId}`;
}

/** Whether it goes into a queue on another set (needs deliverToQueue). */
function toQueue(d: DueDelivery): boolean {
  return isDeadLetter(d) || d.remoteQueue === true;
}

function describeDelivery(d: DueDelivery): string {
  if (isDeadLetter(d)) return `${d.move ? 'redriven message' : 'dead letter'} ${d.msgId} of ${d.sourceQueue} for ${d.destinationQueue}`;
  return `push ${d.msgId} to ${d.topicName}/${d.subscriptionName}`;
}

export class PushDelivery {
  private readonly opts: PushDeliveryOptions;
  private readonly rt: Runtime;
  private readonly post: PushPost;
  private readonly ownPoster: HttpPoster | undefined;
  private readonly log: Logger;
  private readonly requestId: () => string;
  private readonly perEndpointMax: number;
  private readonly inFlightMax: number;
  private readonly timeoutMs: number;
  private readonly sleepMaxMs: number;

  private running = false;
  /** Bumped by every start/stop: a task of an older generation never proposes. */
  private generation = 0;
  /** Invariant: one task per push (topic, subscription, msgId); perEndpoint sums to tasks.size. */
  private readonly tasks = new Map<string, Task>();
  private readonly perEndpoint = new Map<string, number>();
  /** Origins whose last POST failed, so a dead endpoint is logged once, not once per push. */
  private readonly failingOrigins = new Set<string>();
  private deliverToQueue: DeliverToQueue | undefined;
  private pumpQueued = false;
  private timer: TimerHandle | undefined;
  private delivered = 0;
  private failed = 0;
  private bodyReadFailures = 0;
  private queueDelivered = 0;
  private queueFailed = 0;
  private queueGone = 0;
  private deadLettersSent = 0;
  private deadLetterFailures = 0;
  private deadLettersGone = 0;
  /** Logged once: remote queue pushes wait, since this loop has no deliverToQueue. */
  private warnedNoQueueDelivery = false;

  constructor(opts: PushDeliveryOptions) {
    this.opts = opts;
    this.rt = opts.runtime ?? nodeRuntime;
    this.log = loggerFor(opts.log, 'push', (line) => process.stderr.write(`${line}\n`));
    this.perEndpointMax = opts.perEndpointInFlightMax ?? PUSH_DELIVERY_LIMITS.perEndpointInFlightMax;
    this.inFlightMax = opts.inFlightMax ?? PUSH_DELIVERY_LIMITS.inFlightMax;
    this.timeoutMs = opts.requestTimeoutMs ?? PUSH_DELIVERY_LIMITS.requestTimeoutMs;
    this.sleepMaxMs = opts.sleepMaxMs ?? PUSH_DELIVERY_LIMITS.sleepMaxMs;
    if (opts.post) {
      this.post = opts.post;
    } else {
      this.ownPoster = new HttpPoster({ maxSocketsPerOrigin: this.perEndpointMax });
      this.post = this.ownPoster.post;
    }
    this.deliverToQueue = opts.deliverToQueue;
    this.requestId = opts.requestId ?? requestIds(randomU32(this.rt).toString(16).padStart(8, '0'));
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Begin delivering (call when this node becomes leader). Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation++;
    this.schedulePump();
  }

  /**
   * Stop delivering (leadership lost, shutdown). In-flight POSTs are aborted and their outcomes
   * never proposed; resolves once every task has let go (promptly: tasks do not wait on I/O).
   */
  async stop(): Promise<void> {
    await this.halt();
  }

  /** How remote queue pushes are sent from now on (the access layer is built after this loop). */
  setDeliverToQueue(deliver: DeliverToQueue): void {
    this.deliverToQueue = deliver;
    this.wake();
  }

  /** Something was applied that may have added or rescheduled pushes: look at the due list soon. */
  wake(): void {
    if (this.running) this.schedulePump();
  }

  stats(): PushDeliveryStats {
    return {
      running: this.running,
      inFlight: this.tasks.size,
      delivered: this.delivered,
      failed: this.failed,
      bodyReadFailures: this.bodyReadFailures,
      queueDelivered: this.queueDelivered,
      queueFailed: this.queueFailed,
      queueGone: this.queueGone,
      deadLettersSent: this.deadLettersSent,
      deadLetterFailures: this.deadLetterFailures,
      deadLettersGone: this.deadLettersGone,
      perEndpointInFlight: Object.fromEntries(this.perEndpoint),
    };
  }

  private async halt(reason?: string): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    this.generation++;
    if (this.timer) this.rt.clearTimeout(this.timer);
    this.timer = undefined;
    const tasks = [...this.tasks.values()];
    this.tasks.clear();
    this.perEndpoint.clear();
    for (const t of tasks) t.abort.abort();
    this.ownPoster?.close(); // before awaiting: a start() meanwhile must keep its connections
    await Promise.all(tasks.map((t) => t.done));
    if (reason !== undefined && wasRunning) {
      this.log.info(`push delivery stopped: ${reason} (pending pushes resume under the next leader)`);
      this.opts.onHalt?.(reason);
    }
  }

  /** Coalesces wake-ups: one look at the due list per event-loop turn at most. */
  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    this.rt.setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    if (!this.running) return;
    const nowMs = this.rt.nowMs();
    let capacity = this.inFlightMax - this.tasks.size;
    // The due list is ordered by time, not by endpoint: pushes of a saturated (slow or dead)
    // endpoint can fill any window. When a first window leaves capacity unused, look at the whole
    // due list, so they never hide other endpoints' pushes (the broker scans every pending push
    // either way; only the copying grows).
    let limit = this.tasks.size + 2 * Math.max(capacity, 1);
    while (capacity > 0) {
      const due = this.opts.dueDeliveries(nowMs, limit);
      for (const push of due) {
        if (capacity === 0) break;
        const key = taskKey(push);
        if (this.tasks.has(key)) continue;
        if (toQueue(push) && this.deliverToQueue === undefined) {
          this.noQueueDelivery();
          continue;
        }
        const origin = pushOrigin(push);
        if ((this.perEndpoint.get(origin) ?? 0) >= this.perEndpointMax) continue;
        this.dispatch(key, origin, push);
        capacity--;
      }
      if (due.length < limit || limit === Number.MAX_SAFE_INTEGER) break;
      limit = Number.MAX_SAFE_INTEGER;
    }
    this.armTimer(nowMs);
  }

  /** Sleep until the next attempt is due, at most sleepMaxMs; completions and wake() come sooner. */
  private armTimer(nowMs: number): void {
    if (this.timer) this.rt.clearTimeout(this.timer);
    const next = this.opts.nextAttemptMs();
    // next <= now: what is due is in flight or waits for a busy endpoint; a completion re-pumps.
    const delayMs = next === undefined || next === Infinity || next <= nowMs ? this.sleepMaxMs : Math.min(next - nowMs, this.sleepMaxMs);
    this.timer = this.rt.setTimeout(() => {
      this.timer = undefined;
      this.schedulePump();
    }, delayMs);
    unrefTimer(this.timer);
  }

  private dispatch(key: string, origin: string, push: DueDelivery): void {
    const abort = new AbortController();
    const generation = this.generation;
    const task: Task = { key, origin, abort, done: Promise.resolve() };
    this.tasks.set(key, task);
    this.perEndpoint.set(origin, (this.perEndpoint.get(origin) ?? 0) + 1);
    task.done = this.deliver(push, origin, abort.signal).then(
      () => {
        if (generation !== this.generation) return;
        this.release(task);
        this.schedulePump();
      },
      (err: unknown) => {
        if (err instanceof Abandoned || generation !== this.generation) return;
        void this.halt(err instanceof Error ? err.message : String(err));
      },
    );
  }

  private release(task: Task): void {
    if (this.tasks.get(task.key) !== task) return;
    this.tasks.delete(task.key);
    const n = (this.perEndpoint.get(task.origin) ?? 1) - 1;
    if (n > 0) this.perEndpoint.set(task.origin, n);
    else this.perEndpoint.delete(task.origin);
  }

  private noQueueDelivery(): void {
    if (this.warnedNoQueueDelivery) return;
    this.warnedNoQueueDelivery = true;
    this.log.warn('messages for queues on other sets (topic deliveries, dead letters) are pending, but this node cannot reach other sets: they wait for a leader that can');
  }

  /**
   * Read, deliver (POST, or send into the remote queue), propose. Resolves once the outcome is
   * applied; rejects with Abandoned when stopped meanwhile, or with the proposal's failure (which
   * halts the loop).
   */
  private async deliver(push: DueDelivery, origin: string, signal: AbortSignal): Promise<void> {
    let attempt: AttemptResult = { ok: false, why: '' };
    let body: Buffer | undefined;
    try {
      body = await untilAborted(this.opts.readBody(push.body), signal);
    } catch (err) {
      if (signal.aborted) throw new Abandoned();
      this.bodyReadFailures++;
      this.log.warn(
        `${describeDelivery(push)}: body unreadable, counted as a failed attempt: ${describe(err)}`,
        isDeadLetter(push) ? { queue: push.sourceQueue } : { topic: push.topicName, subscription: push.subscriptionName },
      );
    }
    if (body !== undefined) {
      attempt = await this.attempt(push, body, signal);
      this.noteEndpoint(origin, attempt.ok, attempt.why);
    }
    const ok = attempt.ok;
    if (signal.aborted) throw new Abandoned();
    const command = this.outcomeCommand(push, ok, attempt.gone === true);
    let result: CommandResult;
    try {
      result = await untilAborted(this.opts.propose(command), signal);
    } catch (err) {
      if (signal.aborted) throw new Abandoned();
      throw new Error(`proposing ${command.kind} failed: ${describe(err)}`);
    }
    if (signal.aborted) throw new Abandoned();
    if (!result.ok) throw new Error(`proposing ${command.kind} failed: ${result.detail ?? result.error}`);
    if (isDeadLetter(push)) {
      if (ok) this.deadLettersSent++;
      else this.deadLetterFailures++;
      if (attempt.gone === true) {
        this.deadLettersGone++;
        this.log.warn(`${describeDelivery(push)} dropped: ${attempt.why}`, { queue: push.sourceQueue });
      }
      return;
    }
    if (ok) this.delivered++;
    else this.failed++;
    if (push.remoteQueue === true) {
      if (ok) this.queueDelivered++;
      else this.queueFailed++;
      if (attempt.gone === true) this.queueGone++;
    }
  }

  /**
   * One delivery attempt, bounded by the request timeout; rejects with Abandoned when `signal`
   * aborts (stopped). A failure of any other kind is a failed attempt, described.
   */
  /**
   * The outcome to propose. A dead letter that failed is tried again (capped backoff, forever)
   * unless gone: that is the broker's rule, this only says which.
   */
  private outcomeCommand(push: DueDelivery, ok: boolean, gone: boolean): PushOutcomeCommand {
    if (isDeadLetter(push)) {
      return ok ? { kind: 'deadLetterSent', queueName: push.sourceQueue, msgId: push.msgId } : { kind: 'deadLetterFailed', queueName: push.sourceQueue, msgId: push.msgId, gone };
    }
    return ok
      ? { kind: 'pushSucceeded', topicName: push.topicName, subscriptionName: push.subscriptionName, msgId: push.msgId }
      : { kind: 'pushFailed', topicName: push.topicName, subscriptionName: push.subscriptionName, msgId: push.msgId, seed: randomU32(this.rt) };
  }

  private async attempt(push: DueDelivery, body: Buffer, signal: AbortSignal): Promise<AttemptResult> {
    const bounded = new AbortController();
    const onAbort = (): void => bounded.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = this.rt.setTimeout(() => bounded.abort(), this.timeoutMs);
    try {
      const pending = isDeadLetter(push)
        ? this.sendDeadLetter(push, body, bounded.signal)
        : push.remoteQueue === true
          ? this.sendToQueue(push, body, bounded.signal)
          : this.postHttp(push, body, bounded.signal);
      return await untilAborted(pending, bounded.signal);
    } catch (err) {
      if (signal.aborted) throw new Abandoned();
      return { ok: false, why: bounded.signal.aborted ? `no answer within ${this.timeoutMs} ms` : describe(err) };
    } finally {
      this.rt.clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async postHttp(push: DuePush, body: Buffer, signal: AbortSignal): Promise<AttemptResult> {
    const request = pushRequest(push, body, this.requestId(), this.opts.topicOwner ?? TOPIC_OWNER_DEFAULT);
    const { status } = await this.post(push.endpoint, request.headers, request.body, this.timeoutMs, signal);
    const ok = status >= 200 && status < 300;
    return { ok, why: ok ? '' : `HTTP ${status}` };
  }

  /** The raw body into the queue (as a local queue subscription enqueues it), deduplicated by message. */
  private async sendToQueue(push: DuePush, body: Buffer, signal: AbortSignal): Promise<AttemptResult> {
    const deliverToQueue = this.deliverToQueue;
    if (deliverToQueue === undefined) throw new Error('no delivery to other sets configured');
    const outcome = await deliverToQueue(push.endpoint, body, outboxDedupId(push.topicName, push.subscriptionName, push.msgId), signal);
    if (outcome === 'delivered') return { ok: true, why: '' };
    if (outcome === 'gone') return { ok: false, why: `queue ${push.endpoint} does not exist or refuses the message`, gone: true };
    return { ok: false, why: `queue ${push.endpoint} did not take the message` };
  }

  /** A dead letter (or a message of a moving queue) into its queue on another set, sent as deadLetterSendOptions says. */
  private async sendDeadLetter(d: DueDeadLetter, body: Buffer, signal: AbortSignal): Promise<AttemptResult> {
    const deliverToQueue = this.deliverToQueue;
    if (deliverToQueue === undefined) throw new Error('no delivery to other sets configured');
    const outcome = await deliverToQueue(d.destinationQueue, body, deadLetterDedupId(d.sourceQueue, d.msgId, d.sinceIndex), signal, deadLetterSendOptions(d, body));
    if (outcome === 'delivered') return { ok: true, why: '' };
    if (outcome === 'gone') return { ok: false, why: `queue ${d.destinationQueue} does not exist or refuses the message`, gone: true };
    return { ok: false, why: `queue ${d.destinationQueue} did not take the message (retried)` };
  }

  private noteEndpoint(origin: string, ok: boolean, why: string): void {
    if (ok) {
      if (this.failingOrigins.delete(origin)) this.log.info(`push endpoint ${origin} answers again`, { endpoint: origin });
    } else if (!this.failingOrigins.has(origin)) {
      this.failingOrigins.add(origin);
      this.log.warn(`push endpoint ${origin} failing (${why}); retrying per the subscriptions' notifyStrategy`, { endpoint: origin });
    }
  }
}

/** `<prefix>-push-1`, `<prefix>-push-2`, …: unique per loop, and per node thanks to the prefix. */
function requestIds(prefix: string): () => string {
  let counter = 0;
  return () => `${prefix}-push-${++counter}`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `p`, or a rejection as soon as `signal` aborts (so nothing waits on I/O that was given up). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(new Abandoned('aborted'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Abandoned('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export interface HttpPosterOptions {
  maxSocketsPerOrigin?: number;
  responseBytesMax?: number;
  agentsMax?: number;
  idleSocketMs?: number;
}

/**
 * The default PushPost: node:http / node:https with one keep-alive agent per endpoint origin. The
 * response body is read and discarded (the connection is cut past responseBytesMax); redirects
 * are not followed (a 3xx is a failed delivery).
 */
export class HttpPoster {
  private readonly agents = new Map<string, { agent: http.Agent; inFlight: number }>();
  private readonly maxSockets: number;
  private readonly responseBytesMax: number;
  private readonly agentsMax: number;
  private readonly idleSocketMs: number;

  constructor(opts: HttpPosterOptions = {}) {
    this.maxSockets = opts.maxSocketsPerOrigin ?? PUSH_DELIVERY_LIMITS.perEndpointInFlightMax;
    this.responseBytesMax = opts.responseBytesMax ?? PUSH_DELIVERY_LIMITS.responseBytesMax;
    this.agentsMax = opts.agentsMax ?? PUSH_DELIVERY_LIMITS.agentsMax;
    this.idleSocketMs = opts.idleSocketMs ?? PUSH_DELIVERY_LIMITS.idleSocketMs;
  }

  readonly post: PushPost = (url, headers, body, timeoutMs, signal) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return Promise.reject(new Error(`invalid endpoint URL ${JSON.stringify(url)}`));
    }
    const mod = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
    if (!mod) return Promise.reject(new Error(`unsupported endpoint scheme ${target.protocol}`));
    const slot = this.agentFor(target, mod);
    slot.inFlight++;
    return new Promise<{ status: number }>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, status?: number): void => {
        if (settled) return;
        settled = true;
        slot.inFlight--;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve({ status: status ?? 0 });
      };
      const req = mod.request(target, { method: 'POST', agent: slot.agent, headers: { ...headers, 'Content-Length': String(body.length) } });
      const timer = setTimeout(() => {
        finish(new Error(`no answer within ${timeoutMs} ms`));
        req.destroy();
      }, timeoutMs);
      const onAbort = (): void => {
        finish(new Error('aborted'));
        req.destroy();
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => finish(err));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > this.responseBytesMax) {
            finish(undefined, status);
            req.destroy();
          }
        });
        res.on('end', () => finish(undefined, status));
        res.on('error', (err) => finish(err));
      });
      req.end(body);
    });
  };

  /** Closes every connection; later posts open new ones. */
  close(): void {
    for (const { agent } of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private agentFor(target: URL, mod: typeof http | typeof https): { agent: http.Agent; inFlight: number } {
    const origin = target.origin;
    let slot = this.agents.get(origin);
    if (slot) {
      this.agents.delete(origin); // re-inserted below: the Map's order is least recently used first
    } else {
      const opts = { keepAlive: true, maxSockets: this.maxSockets, maxFreeSockets: this.maxSockets, timeout: this.idleSocketMs };
      slot = { agent: mod === https ? new https.Agent(opts) : new http.Agent(opts), inFlight: 0 };
      if (this.agents.size >= this.agentsMax) this.evictIdleAgent();
    }
    this.agents.set(origin, slot);
    return slot;
  }

  private evictIdleAgent(): void {
    for (const [origin, slot] of this.agents) {
      if (slot.inFlight === 0) {
        slot.agent.destroy();
        this.agents.delete(origin);
        return;
      }
    }
  }
}
