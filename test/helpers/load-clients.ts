// A small load driver for fault tests: senders and receivers over raw CMQ HTTP (no SDK), each
// recording what it saw into a History, each failing over across the nodes of a set and never
// giving up. Every request has a timeout, so a SIGSTOPped node costs a client one timeout, not a hang.

import { randomBytes } from 'node:crypto';
import http from 'node:http';

import { History } from './history';
import { arrayParams, type CmqResponse } from './raw-cmq';

export type { CmqResponse } from './raw-cmq';

const NO_MESSAGE = 7000;
const DELETE_PARTIAL = 6010;
const DELETE_ALL_FAILED = 6020;
const HANDLE_INVALID = 4430;
/** "Not applied, retry is safe" (6100/10800): a send so answered must never be delivered. */
export const NOT_APPLIED = 6100;

/** "code/module" of an error answer, e.g. "6000/10810"; the module is the "(NNNNN)" the message starts with. */
export function answerKey(r: { code: number; message: string }): string {
  const m = /^\((\d+)\)/.exec(r.message);
  return `${r.code}/${m?.[1] ?? '?'}`;
}

export interface CmqRequestOptions {
  /** The whole exchange, connect to last byte. */
  timeoutMs: number;
  agent?: http.Agent;
  signal?: AbortSignal;
}

/**
 * One unsigned CMQ form POST (as test/helpers/raw-cmq.ts's cmqCall) with a timeout and an abort
 * signal. Rejects on network errors, timeouts, HTTP status other than 200 and unparsable bodies;
 * resolves with the envelope whatever its `code`.
 */
export function cmqRequest(endpoint: string, action: string, params: Record<string, string | number>, opts: CmqRequestOptions): Promise<CmqResponse> {
  const form = new URLSearchParams({ Action: action });
  for (const [k, v] of Object.entries(params)) form.append(k, String(v));
  const data = Buffer.from(form.toString());
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, value?: CmqResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== undefined) {
        req.destroy();
        reject(err);
      } else resolve(value!);
    };
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: '/v2/index.php',
        method: 'POST',
        agent: opts.agent ?? false,
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': data.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => finish(err));
        res.on('close', () => finish(new Error(`${action}: connection closed mid-response`)));
        res.on('end', () => {
          if (res.statusCode !== 200) return finish(new Error(`${action}: HTTP ${res.statusCode}`));
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
            if (!isEnvelope(body)) return finish(new Error(`${action}: not a CMQ envelope`));
            finish(undefined, body);
          } catch (err) {
            finish(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    const timer = setTimeout(() => finish(new Error(`${action}: timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on('error', (err) => finish(err));
    req.end(data);
  });
}

function isEnvelope(v: unknown): v is CmqResponse {
  return typeof v === 'object' && v !== null && typeof (v as { code?: unknown }).code === 'number';
}

export interface LoadOptions {
  /** Node URLs, e.g. http://127.0.0.1:9600; clients start spread over them and fail over in turn. */
  endpoints: string[];
  queueName: string;
  senders: number;
  receivers: number;
  history: History;
  /** Messages per send/receive/delete, with the Batch* actions. Unset: the single-message actions. */
  batch?: number;
  /** pollingWaitSeconds of receives (default 1). */
  pollingWaitSeconds?: number;
  /** Timeout of sends and deletes (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Timeout of receives (default pollingWaitSeconds + requestTimeoutMs). */
  receiveTimeoutMs?: number;
  /** Pause after a failed request before the next, so a dead set is not hammered (default 50 ms). */
  errorBackoffMs?: number;
  /** Start of every body; a random run id and the client and sequence numbers follow. */
  bodyPrefix?: string;
}

export interface LoadStats {
  sendsAcked: number;
  sendsFailed: number;
  messagesReceived: number;
  emptyReceives: number;
  deletesAcked: number;
  deletesFailed: number;
  /** Failed requests (any action). */
  errors: number;
  /** Moves to the next endpoint. */
  failovers: number;
  /** Error answers (any action, code != 0 and != 7000) by "code/module", e.g. "6100/10800". */
  errorAnswers: Record<string, number>;
  lastError?: string;
}

export interface LoadHandle {
  /**
   * Stop issuing requests; wait up to `graceMs` (default 2000) for those in flight, then abort them
   * (an aborted send or delete is recorded as failed, an aborted receive is not recorded: whatever
   * it may have taken becomes visible again after the visibility timeout).
   */
  stop(opts?: { graceMs?: number }): Promise<void>;
  stats(): LoadStats;
}

interface ClientContext {
  opts: LoadOptions;
  agent: http.Agent;
  abort: AbortController;
  stats: LoadStats;
  requestTimeoutMs: number;
  receiveTimeoutMs: number;
  pollingWaitSeconds: number;
  stopping: boolean;
  /** False for the final drain: its deletes are clean-up, and recording them would make every drained body look "deleted, yet drained". */
  recordDeletes: boolean;
}

/** Rotates over the endpoints; each client has its own. */
class EndpointCursor {
  private index: number;
  constructor(
    private readonly endpoints: string[],
    start: number,
  ) {
    if (endpoints.length === 0) throw new Error('no endpoints');
    this.index = start % endpoints.length;
  }
  get current(): string {
    return this.endpoints[this.index]!;
  }
  next(): void {
    this.index = (this.index + 1) % this.endpoints.length;
  }
}

/** notSent: the connection was refused, so the request certainly was not sent. */
type Outcome = { ok: true; response: CmqResponse } | { ok: false; response?: CmqResponse; reason: string; notSent?: boolean };

async function call(ctx: ClientContext, cursor: EndpointCursor, action: string, params: Record<string, string | number>, timeoutMs: number): Promise<Outcome> {
  try {
    const response = await cmqRequest(cursor.current, action, params, { timeoutMs, agent: ctx.agent, signal: ctx.abort.signal });
    if (response.code !== 0 && response.code !== NO_MESSAGE) {
      const key = answerKey(response);
      ctx.stats.errorAnswers[key] = (ctx.stats.errorAnswers[key] ?? 0) + 1;
    }
    return response.code === 0 ? { ok: true, response } : { ok: false, response, reason: `code ${response.code}: ${response.message}` };
  } catch (err) {
    const notSent = (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
    return { ok: false, reason: err instanceof Error ? err.message : String(err), notSent };
  }
}

/** Count a failure; unless the server answered with an expected refusal, move to the next node. */
async function failed(ctx: ClientContext, cursor: EndpointCursor, endpoint: string, reason: string, failover: boolean): Promise<void> {
  ctx.stats.errors++;
  ctx.stats.lastError = `${endpoint}: ${reason}`;
  if (failover) {
    cursor.next();
    ctx.stats.failovers++;
  }
  await sleep(ctx.opts.errorBackoffMs ?? 50, ctx.abort.signal);
}

async function senderLoop(ctx: ClientContext, client: number, runId: string): Promise<void> {
  const { history, queueName, batch } = ctx.opts;
  const cursor = new EndpointCursor(ctx.opts.endpoints, client);
  const prefix = `${ctx.opts.bodyPrefix ?? 'm'}-${runId}-s${client}-`;
  let seq = 0;
  while (!ctx.stopping) {
    const bodies = Array.from({ length: batch ?? 1 }, () => `${prefix}${seq++}`);
    for (const b of bodies) history.sendInvoked(b);
    const endpoint = cursor.current;
    const out =
      batch === undefined
        ? await call(ctx, cursor, 'SendMessage', { queueName, msgBody: bodies[0]! }, ctx.requestTimeoutMs)
        : await call(ctx, cursor, 'BatchSendMessage', { queueName, ...arrayParams('msgBody', bodies) }, ctx.requestTimeoutMs);
    const msgIds = out.ok ? sentMsgIds(out.response, batch !== undefined) : undefined;
    if (msgIds?.length === bodies.length) {
      bodies.forEach((b, i) => history.sendAcked(b, msgIds[i]!));
      ctx.stats.sendsAcked += bodies.length;
      continue;
    }
    const reason = out.ok ? 'malformed send response' : out.reason;
    // 6100 says nothing was applied (as does a refused connection): the checker holds the server to it.
    if (!out.ok && (out.response?.code === NOT_APPLIED || out.notSent === true)) for (const b of bodies) history.sendNotApplied(b, `${endpoint}: ${reason}`);
    else for (const b of bodies) history.sendFailed(b, reason);
    ctx.stats.sendsFailed += bodies.length;
    await failed(ctx, cursor, endpoint, reason, true);
  }
}

function sentMsgIds(r: CmqResponse, batch: boolean): string[] | undefined {
  if (!batch) return typeof r.msgId === 'string' ? [r.msgId] : undefined;
  if (!Array.isArray(r.msgList)) return undefined;
  const ids = (r.msgList as unknown[]).map((m) => (m as { msgId?: unknown } | null)?.msgId);
  return ids.every((id): id is string => typeof id === 'string') ? ids : undefined;
}

interface Delivered {
  msgBody: string;
  receiptHandle: string;
  nextVisibleTime: number;
  dequeueCount: number;
}

function deliveredMessages(r: CmqResponse, batch: boolean): Delivered[] | undefined {
  const items: unknown[] = batch ? (Array.isArray(r.msgInfoList) ? (r.msgInfoList as unknown[]) : []) : [r];
  const out: Delivered[] = [];
  for (const it of items) {
    const m = it as Partial<Record<keyof Delivered, unknown>> | null;
    if (m === null || typeof m.msgBody !== 'string' || typeof m.receiptHandle !== 'string') return undefined;
    if (typeof m.nextVisibleTime !== 'number' || typeof m.dequeueCount !== 'number') return undefined;
    out.push({ msgBody: m.msgBody, receiptHandle: m.receiptHandle, nextVisibleTime: m.nextVisibleTime, dequeueCount: m.dequeueCount });
  }
  return out.length > 0 ? out : undefined;
}

/** One receive (recorded into the history). undefined: empty or failed (already handled). */
async function receiveOnce(ctx: ClientContext, cursor: EndpointCursor, pollingWaitSeconds: number): Promise<Delivered[] | undefined> {
  const { history, queueName, batch } = ctx.opts;
  const endpoint = cursor.current;
  const startMs = Date.now();
  const out =
    batch === undefined
      ? await call(ctx, cursor, 'ReceiveMessage', { queueName, pollingWaitSeconds }, ctx.receiveTimeoutMs)
      : await call(ctx, cursor, 'BatchReceiveMessage', { queueName, numOfMsg: batch, pollingWaitSeconds }, ctx.receiveTimeoutMs);
  const atMs = Date.now();
  if (!out.ok && out.response?.code === NO_MESSAGE) {
    ctx.stats.emptyReceives++;
    return undefined;
  }
  const messages = out.ok ? deliveredMessages(out.response, batch !== undefined) : undefined;
  if (messages === undefined) {
    await failed(ctx, cursor, endpoint, out.ok ? 'malformed receive response' : out.reason, true);
    return undefined;
  }
  for (const m of messages) {
    history.received(m.msgBody, m.receiptHandle, { nextVisibleTime: m.nextVisibleTime, dequeueCount: m.dequeueCount, startMs }, atMs);
  }
  ctx.stats.messagesReceived += messages.length;
  return messages;
}

async function deleteMessages(ctx: ClientContext, cursor: EndpointCursor, handles: string[]): Promise<void> {
  const { history, queueName, batch } = ctx.opts;
  const endpoint = cursor.current;
  const out =
    batch === undefined
      ? await call(ctx, cursor, 'DeleteMessage', { queueName, receiptHandle: handles[0]! }, ctx.requestTimeoutMs)
      : await call(ctx, cursor, 'BatchDeleteMessage', { queueName, ...arrayParams('receiptHandle', handles) }, ctx.requestTimeoutMs);
  if (out.ok) {
    if (ctx.recordDeletes) for (const h of handles) history.deleteAcked(h);
    ctx.stats.deletesAcked += handles.length;
    return;
  }
  const code = out.response?.code;
  // 6010: the handles in errorList failed and the others were deleted.
  const failedHandles = code === DELETE_PARTIAL ? errorListHandles(out.response!) : undefined;
  for (const h of handles) {
    if (failedHandles !== undefined && !failedHandles.has(h)) {
      if (ctx.recordDeletes) history.deleteAcked(h);
      ctx.stats.deletesAcked++;
    } else {
      if (ctx.recordDeletes) history.deleteFailed(h, out.reason);
      ctx.stats.deletesFailed++;
    }
  }
  // An invalid handle (visibility expired) is the server answering correctly, not failing.
  const refused = code === HANDLE_INVALID || code === DELETE_PARTIAL || code === DELETE_ALL_FAILED;
  await failed(ctx, cursor, endpoint, out.reason, !refused);
}

function errorListHandles(r: CmqResponse): Set<string> | undefined {
  if (!Array.isArray(r.errorList)) return undefined;
  const handles = (r.errorList as unknown[]).map((e) => (e as { receiptHandle?: unknown } | null)?.receiptHandle);
  return handles.every((h): h is string => typeof h === 'string') ? new Set(handles) : undefined;
}

async function receiverLoop(ctx: ClientContext, client: number): Promise<void> {
  const cursor = new EndpointCursor(ctx.opts.endpoints, client);
  while (!ctx.stopping) {
    const messages = await receiveOnce(ctx, cursor, ctx.pollingWaitSeconds);
    if (messages === undefined) continue;
    await deleteMessages(
      ctx,
      cursor,
      messages.map((m) => m.receiptHandle),
    );
  }
}

/** Start the senders and receivers; they run until stop(). */
export function startLoad(opts: LoadOptions): LoadHandle {
  if (opts.endpoints.length === 0) throw new Error('startLoad: no endpoints');
  const pollingWaitSeconds = opts.pollingWaitSeconds ?? 1;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
  const ctx: ClientContext = {
    opts,
    agent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
    abort: new AbortController(),
    stats: { sendsAcked: 0, sendsFailed: 0, messagesReceived: 0, emptyReceives: 0, deletesAcked: 0, deletesFailed: 0, errors: 0, failovers: 0, errorAnswers: {} },
    requestTimeoutMs,
    receiveTimeoutMs: opts.receiveTimeoutMs ?? pollingWaitSeconds * 1000 + requestTimeoutMs,
    pollingWaitSeconds,
    stopping: false,
    recordDeletes: true,
  };
  const runId = randomBytes(4).toString('hex');
  const loops = [
    ...Array.from({ length: opts.senders }, (_, i) => senderLoop(ctx, i, runId)),
    ...Array.from({ length: opts.receivers }, (_, i) => receiverLoop(ctx, i)),
  ];
  // A loop only ends by stopping; one that throws is a bug in this file, reported by stop().
  const all = Promise.allSettled(loops);
  let stopped: Promise<void> | undefined;
  return {
    stats: () => ({ ...ctx.stats, errorAnswers: { ...ctx.stats.errorAnswers } }),
    stop: ({ graceMs = 2000 } = {}) => {
      stopped ??= (async () => {
        ctx.stopping = true;
        const grace = new AbortController();
        await Promise.race([all, sleep(graceMs, grace.signal)]);
        grace.abort();
        ctx.abort.abort();
        const results = await all;
        ctx.agent.destroy();
        for (const r of results) if (r.status === 'rejected') throw r.reason;
      })();
      return stopped;
    },
  };
}

export interface DrainOptions {
  endpoints: string[];
  queueName: string;
  /**
   * Record the drain's receives here too, so its deliveries are checked against the load's. Its
   * deletes are not recorded: they are what makes the drain final, and History.check treats a
   * drained body with an acknowledged delete as a deleted message that came back.
   */
  history?: History;
  /** Messages per BatchReceiveMessage (default 16). */
  batch?: number;
  /** Stop after this many empty receives in a row (default 2). */
  emptyReceivesToStop?: number;
  pollingWaitSeconds?: number;
  /** Give up (throw) after this long (default 30 s). */
  timeoutMs?: number;
}

/**
 * Read the queue until empty, deleting what it reads; returns the bodies in order (duplicates
 * kept). Run it after the load stopped and a visibility period passed. A delete the drain fails to
 * make lets its message come back later, so keep the drain shorter than the visibility timeout.
 */
export async function drainQueue(opts: DrainOptions): Promise<string[]> {
  const history = opts.history ?? new History();
  const batch = opts.batch ?? 16;
  const pollingWaitSeconds = opts.pollingWaitSeconds ?? 1;
  const ctx: ClientContext = {
    opts: { endpoints: opts.endpoints, queueName: opts.queueName, senders: 0, receivers: 1, history, batch, errorBackoffMs: 50 },
    agent: new http.Agent({ keepAlive: true, maxSockets: 4 }),
    abort: new AbortController(),
    stats: { sendsAcked: 0, sendsFailed: 0, messagesReceived: 0, emptyReceives: 0, deletesAcked: 0, deletesFailed: 0, errors: 0, failovers: 0, errorAnswers: {} },
    requestTimeoutMs: 5000,
    receiveTimeoutMs: pollingWaitSeconds * 1000 + 5000,
    pollingWaitSeconds,
    stopping: false,
    recordDeletes: false,
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const cursor = new EndpointCursor(opts.endpoints, 0);
  const bodies: string[] = [];
  let empties = 0;
  try {
    while (empties < (opts.emptyReceivesToStop ?? 2)) {
      if (Date.now() > deadline) throw new Error(`drainQueue: not empty after ${opts.timeoutMs ?? 30_000} ms (last error: ${ctx.stats.lastError ?? 'none'})`);
      const emptyBefore = ctx.stats.emptyReceives;
      const messages = await receiveOnce(ctx, cursor, pollingWaitSeconds);
      if (messages === undefined) {
        if (ctx.stats.emptyReceives > emptyBefore) empties++;
        continue;
      }
      empties = 0;
      bodies.push(...messages.map((m) => m.msgBody));
      await deleteMessages(
        ctx,
        cursor,
        messages.map((m) => m.receiptHandle),
      );
    }
  } finally {
    ctx.agent.destroy();
  }
  return bodies;
}

/**
 * Call `action` on the endpoints in turn until one answers code 0 (or one of `acceptCodes`), e.g.
 * CreateQueue right after a set starts. Throws after `timeoutMs` (default 10 s).
 */
export async function callUntilOk(
  endpoints: string[],
  action: string,
  params: Record<string, string | number>,
  opts: { acceptCodes?: number[]; timeoutMs?: number } = {},
): Promise<CmqResponse> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const cursor = new EndpointCursor(endpoints, 0);
  let last = 'no attempt';
  while (Date.now() < deadline) {
    try {
      const r = await cmqRequest(cursor.current, action, params, { timeoutMs: Math.max(1, Math.min(5000, deadline - Date.now())) });
      if (r.code === 0 || (opts.acceptCodes ?? []).includes(r.code)) return r;
      last = `${cursor.current}: code ${r.code}: ${r.message}`;
    } catch (err) {
      last = `${cursor.current}: ${err instanceof Error ? err.message : String(err)}`;
    }
    cursor.next();
    await sleep(50);
  }
  throw new Error(`${action} did not succeed within ${opts.timeoutMs ?? 10_000} ms; last: ${last}`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface SendPauses {
  /** The longest time one sender went between two acknowledged sends (or to the window's end). */
  longestGapMs: number;
  /** The sender (run and client, from the body) that saw it. */
  longestGapClient: string;
  /** The slowest acknowledged send that ended inside the window. */
  longestAckLatencyMs: number;
}

/**
 * What startLoad's senders saw during [fromMs, toMs]: per sender (bodies `…-s<client>-<seq>`), the
 * gaps between successive acknowledged sends that overlap the window, failed attempts included.
 */
export function sendPauses(history: History, fromMs: number, toMs: number): SendPauses {
  const acksByClient = new Map<string, number[]>();
  let longestAckLatencyMs = 0;
  for (const s of history.sends()) {
    if (s.outcome !== 'acked' || s.endMs === undefined) continue;
    const client = /^(.*-s\d+)-\d+$/.exec(s.body)?.[1];
    if (client === undefined) continue; // not a load sender's body (e.g. a probe)
    const list = acksByClient.get(client);
    if (list === undefined) acksByClient.set(client, [s.endMs]);
    else list.push(s.endMs);
    if (s.endMs >= fromMs && s.endMs <= toMs) longestAckLatencyMs = Math.max(longestAckLatencyMs, s.endMs - s.invokedMs);
  }
  let longestGapMs = 0;
  let longestGapClient = '';
  for (const [client, acks] of acksByClient) {
    acks.sort((a, b) => a - b);
    // The window's end closes the last gap: a sender that never succeeded again saw the whole of it.
    const points = [...acks.filter((t) => t < toMs), toMs];
    for (let i = 1; i < points.length; i++) {
      const prev = points[i - 1]!;
      const next = points[i]!;
      if (next < fromMs) continue;
      const gap = next - prev;
      if (gap > longestGapMs) {
        longestGapMs = gap;
        longestGapClient = client;
      }
    }
  }
  return { longestGapMs, longestGapClient, longestAckLatencyMs };
}
