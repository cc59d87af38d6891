// What clients of a queue saw (sends, receives, deletes, with wall-clock times), and a checker that
// finds what a correct CMQ queue can never show them: a lost acknowledged send, a phantom message,
// a second delivery inside a visibility window, a deleted message coming back, a duplicate in the
// final drain.
//
// The checker only reports what is certain from client-side times. A server stamps a receive at some
// moment between the request's start and the response's arrival, so a pair of receives is a
// violation only if no placement of both stamps inside their request intervals separates them by a
// visibility period. A send the server answered 6100 ("not applied") must never be delivered; one
// answered otherwise unsuccessfully may or may not be. Server and clients are assumed to share the wall clock (one machine); give
// `clockSkewMs` otherwise, or if the server uses a cached clock. RewindQueue is not modelled: a test
// that rewinds cannot use this checker.

export type ViolationKind = 'lost' | 'phantom' | 'visibilityOverlap' | 'deletedReturned' | 'drainDuplicate' | 'notAppliedDelivered';

export interface Violation {
  kind: ViolationKind;
  body: string;
  detail: string;
}

/** What a receive returned besides the body (CMQ fields; nextVisibleTime is Unix seconds). */
export interface ReceiveMeta {
  nextVisibleTime: number;
  dequeueCount: number;
  /** When the receive request was sent (ms). Without it only nextVisibleTime bounds the window. */
  startMs?: number;
}

export interface CheckOptions {
  /** The queue's visibilityTimeout, in ms. */
  visibilityTimeoutMs: number;
  /** How far the server's clock may be from the clients' (ms). Default 0: same machine. */
  clockSkewMs?: number;
  /**
   * The final drain was taken after every in-flight message became visible again (the test waited
   * a visibility period after the last receive) and read the queue until empty. Then every message
   * known to exist (acknowledged send, or received) and never the subject of a delete attempt must
   * be in the drain; one that is not is reported lost. Default false: lost means never received.
   */
  drainIsComplete?: boolean;
}

/** failed: outcome unknown (may or may not exist); notApplied: the server said it applied nothing (6100). */
export type SendOutcome = 'pending' | 'acked' | 'failed' | 'notApplied';

export interface SendRecord {
  body: string;
  invokedMs: number;
  outcome: SendOutcome;
  endMs?: number;
  msgId?: string;
  reason?: string;
}

export interface ReceiveRecord {
  body: string;
  receiptHandle: string;
  nextVisibleTime: number;
  dequeueCount: number;
  /** -Infinity when the request start was not given. */
  startMs: number;
  endMs: number;
}

export interface DeleteRecord {
  receiptHandle: string;
  acked: boolean;
  atMs: number;
  reason?: string;
}

export interface HistorySummary {
  sendsInvoked: number;
  sendsAcked: number;
  /** Failed sends whose outcome is unknown (not counting notApplied ones). */
  sendsFailed: number;
  /** Sends answered 6100: certainly not applied. */
  sendsNotApplied: number;
  receives: number;
  deletesAcked: number;
  deletesFailed: number;
}

export class History {
  private readonly sendsByBody = new Map<string, SendRecord>();
  private readonly receiveList: ReceiveRecord[] = [];
  /** A buggy server might hand out one handle twice, so a handle maps to every receive that got it. */
  private readonly receivesByHandle = new Map<string, ReceiveRecord[]>();
  private readonly deleteList: DeleteRecord[] = [];
  private readonly nowMs: () => number;

  constructor(opts: { nowMs?: () => number } = {}) {
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** A send of `body` (unique per history) is about to be issued. */
  sendInvoked(body: string, atMs = this.nowMs()): void {
    if (this.sendsByBody.has(body)) throw new Error(`history: body ${JSON.stringify(body)} sent twice; bodies must be unique`);
    this.sendsByBody.set(body, { body, invokedMs: atMs, outcome: 'pending' });
  }

  /** The server acknowledged the send. */
  sendAcked(body: string, msgId: string, atMs = this.nowMs()): void {
    const s = this.pendingSend(body);
    s.outcome = 'acked';
    s.msgId = msgId;
    s.endMs = atMs;
  }

  /** The send failed or timed out: its outcome is unknown (the message may or may not exist). */
  sendFailed(body: string, reason: string, atMs = this.nowMs()): void {
    const s = this.pendingSend(body);
    s.outcome = 'failed';
    s.reason = reason;
    s.endMs = atMs;
  }

  /**
   * The send certainly was not applied (the server answered 6100, or the connection was refused),
   * so the message must never be delivered (History.check reports it as notAppliedDelivered).
   */
  sendNotApplied(body: string, reason: string, atMs = this.nowMs()): void {
    const s = this.pendingSend(body);
    s.outcome = 'notApplied';
    s.reason = reason;
    s.endMs = atMs;
  }

  /** A receive returned `body` with this handle; `atMs` is when the response arrived. */
  received(body: string, receiptHandle: string, meta: ReceiveMeta, atMs = this.nowMs()): void {
    const r: ReceiveRecord = {
      body,
      receiptHandle,
      nextVisibleTime: meta.nextVisibleTime,
      dequeueCount: meta.dequeueCount,
      startMs: meta.startMs ?? -Infinity,
      endMs: atMs,
    };
    this.receiveList.push(r);
    const same = this.receivesByHandle.get(receiptHandle);
    if (same === undefined) this.receivesByHandle.set(receiptHandle, [r]);
    else same.push(r);
  }

  /** The server acknowledged deleting the message received with `receiptHandle`. */
  deleteAcked(receiptHandle: string, atMs = this.nowMs()): void {
    this.knownHandle(receiptHandle);
    this.deleteList.push({ receiptHandle, acked: true, atMs });
  }

  /** A delete failed or timed out: the message may or may not have been deleted. */
  deleteFailed(receiptHandle: string, reason = 'failed', atMs = this.nowMs()): void {
    this.knownHandle(receiptHandle);
    this.deleteList.push({ receiptHandle, acked: false, atMs, reason });
  }

  sends(): readonly SendRecord[] {
    return [...this.sendsByBody.values()];
  }

  receives(): readonly ReceiveRecord[] {
    return this.receiveList;
  }

  deletes(): readonly DeleteRecord[] {
    return this.deleteList;
  }

  /** When the first send acknowledged after `ms` was acknowledged (for failover time), if any. */
  firstSendAckAfter(ms: number): number | undefined {
    let first: number | undefined;
    for (const s of this.sendsByBody.values()) {
      if (s.outcome === 'acked' && s.endMs !== undefined && s.endMs > ms && (first === undefined || s.endMs < first)) first = s.endMs;
    }
    return first;
  }

  summary(): HistorySummary {
    let sendsAcked = 0;
    let sendsFailed = 0;
    let sendsNotApplied = 0;
    for (const s of this.sendsByBody.values()) {
      if (s.outcome === 'acked') sendsAcked++;
      else if (s.outcome === 'failed') sendsFailed++;
      else if (s.outcome === 'notApplied') sendsNotApplied++;
    }
    const deletesAcked = this.deleteList.filter((d) => d.acked).length;
    return {
      sendsInvoked: this.sendsByBody.size,
      sendsAcked,
      sendsFailed,
      sendsNotApplied,
      receives: this.receiveList.length,
      deletesAcked,
      deletesFailed: this.deleteList.length - deletesAcked,
    };
  }

  /**
   * Every violation in the history. `finalDrain`: the bodies received when draining the queue
   * after all recorded operations ended, in order, duplicates included.
   */
  check(finalDrain: readonly string[], opts: CheckOptions): Violation[] {
    const ctx: CheckContext = {
      visibilityMs: opts.visibilityTimeoutMs,
      skewMs: opts.clockSkewMs ?? 0,
      receivesByBody: groupBy(this.receiveList, (r) => r.body),
      deletesByBody: this.deletesByBody(),
      drained: new Set(finalDrain),
    };
    return [
      ...this.lost(ctx, opts.drainIsComplete ?? false),
      ...this.phantoms(ctx, finalDrain),
      ...visibilityOverlaps(ctx),
      ...deletedReturned(ctx),
      ...drainDuplicates(finalDrain),
      ...this.notAppliedDelivered(ctx),
    ];
  }

  /** A send answered "not applied" (6100) whose message was delivered after all. */
  private notAppliedDelivered(ctx: CheckContext): Violation[] {
    const out: Violation[] = [];
    for (const s of this.sendsByBody.values()) {
      if (s.outcome !== 'notApplied') continue;
      const receives = ctx.receivesByBody.get(s.body)?.length ?? 0;
      if (receives === 0 && !ctx.drained.has(s.body)) continue;
      out.push({
        kind: 'notAppliedDelivered',
        body: s.body,
        detail: `send answered "not applied" (${s.reason ?? '?'}) but delivered: received ${receives} time(s)${ctx.drained.has(s.body) ? ', in the final drain' : ''}`,
      });
    }
    return out;
  }

  private lost(ctx: CheckContext, drainIsComplete: boolean): Violation[] {
    const out: Violation[] = [];
    for (const s of this.sendsByBody.values()) {
      if (s.outcome !== 'acked') continue;
      if (!ctx.receivesByBody.has(s.body) && !ctx.drained.has(s.body)) {
        out.push({ kind: 'lost', body: s.body, detail: `send acknowledged (msgId ${s.msgId ?? '?'}) but never received` });
      }
    }
    if (!drainIsComplete) return out;
    // A message that exists and was never (possibly) deleted must still be in the queue.
    for (const [body, receives] of ctx.receivesByBody) {
      if (ctx.drained.has(body) || ctx.deletesByBody.has(body)) continue;
      if (!this.sendsByBody.has(body)) continue; // a phantom, reported as such
      out.push({
        kind: 'lost',
        body,
        detail: `received ${receives.length} time(s), never deleted, but missing from the final drain`,
      });
    }
    return out;
  }

  private phantoms(ctx: CheckContext, finalDrain: readonly string[]): Violation[] {
    const out: Violation[] = [];
    const reported = new Set<string>();
    for (const r of this.receiveList) {
      const s = this.sendsByBody.get(r.body);
      if (s === undefined) {
        if (!reported.has(r.body)) out.push({ kind: 'phantom', body: r.body, detail: `received (handle ${r.receiptHandle}) but never sent` });
        reported.add(r.body);
      } else if (r.endMs < s.invokedMs - ctx.skewMs) {
        out.push({
          kind: 'phantom',
          body: r.body,
          detail: `received at ${iso(r.endMs)}, before its send was issued at ${iso(s.invokedMs)}`,
        });
      }
    }
    for (const body of finalDrain) {
      if (this.sendsByBody.has(body) || reported.has(body)) continue;
      reported.add(body);
      out.push({ kind: 'phantom', body, detail: 'in the final drain but never sent' });
    }
    return out;
  }

  private deletesByBody(): Map<string, DeleteRecord[]> {
    const out = new Map<string, DeleteRecord[]>();
    for (const d of this.deleteList) {
      for (const r of this.receivesByHandle.get(d.receiptHandle) ?? []) {
        const list = out.get(r.body);
        if (list === undefined) out.set(r.body, [d]);
        else list.push(d);
      }
    }
    return out;
  }

  private pendingSend(body: string): SendRecord {
    const s = this.sendsByBody.get(body);
    if (s === undefined) throw new Error(`history: outcome of a send of ${JSON.stringify(body)} that was never invoked`);
    if (s.outcome !== 'pending') throw new Error(`history: send of ${JSON.stringify(body)} already ${s.outcome}`);
    return s;
  }

  private knownHandle(receiptHandle: string): void {
    if (!this.receivesByHandle.has(receiptHandle)) throw new Error(`history: delete of handle ${receiptHandle} that no receive returned`);
  }
}

interface CheckContext {
  visibilityMs: number;
  skewMs: number;
  receivesByBody: Map<string, ReceiveRecord[]>;
  deletesByBody: Map<string, DeleteRecord[]>;
  drained: Set<string>;
}

/**
 * The earliest the message can have become visible again after receive `r` (server clock): the
 * receive was stamped no earlier than the request start, and the reported nextVisibleTime is the
 * deadline floored to whole seconds.
 */
function windowEndLowerBoundMs(r: ReceiveRecord, visibilityMs: number): number {
  return Math.max(r.startMs + visibilityMs, r.nextVisibleTime * 1000);
}

/** Could `second` have been served after `first`'s visibility window ended? */
function canFollowWindow(first: ReceiveRecord, second: ReceiveRecord, ctx: CheckContext): boolean {
  return second.endMs + ctx.skewMs >= windowEndLowerBoundMs(first, ctx.visibilityMs);
}

function visibilityOverlaps(ctx: CheckContext): Violation[] {
  const out: Violation[] = [];
  for (const [body, receives] of ctx.receivesByBody) {
    for (let i = 0; i < receives.length; i++) {
      for (let j = i + 1; j < receives.length; j++) {
        const a = receives[i]!;
        const b = receives[j]!;
        if (canFollowWindow(a, b, ctx) || canFollowWindow(b, a, ctx)) continue;
        out.push({
          kind: 'visibilityOverlap',
          body,
          detail:
            `delivered twice within one visibility period: ${describeReceive(a)} and ${describeReceive(b)} ` +
            `(visibility ${ctx.visibilityMs} ms, skew ${ctx.skewMs} ms)`,
        });
      }
    }
  }
  return out;
}

/** The earliest server time receive `r` can have been stamped at. */
function stampLowerBoundMs(r: ReceiveRecord, visibilityMs: number): number {
  return Math.max(r.startMs, r.nextVisibleTime * 1000 - visibilityMs);
}

function deletedReturned(ctx: CheckContext): Violation[] {
  const out: Violation[] = [];
  for (const [body, deletes] of ctx.deletesByBody) {
    const acked = deletes.filter((d) => d.acked);
    if (acked.length === 0) continue;
    const deletedByMs = Math.min(...acked.map((d) => d.atMs));
    for (const r of ctx.receivesByBody.get(body) ?? []) {
      if (stampLowerBoundMs(r, ctx.visibilityMs) > deletedByMs + ctx.skewMs) {
        out.push({
          kind: 'deletedReturned',
          body,
          detail: `delete acknowledged at ${iso(deletedByMs)}, then received again: ${describeReceive(r)}`,
        });
      }
    }
    if (ctx.drained.has(body)) {
      out.push({ kind: 'deletedReturned', body, detail: `delete acknowledged at ${iso(deletedByMs)}, yet in the final drain` });
    }
  }
  return out;
}

function drainDuplicates(finalDrain: readonly string[]): Violation[] {
  const counts = groupBy(finalDrain, (b) => b);
  const out: Violation[] = [];
  for (const [body, all] of counts) {
    if (all.length > 1) out.push({ kind: 'drainDuplicate', body, detail: `${all.length} times in the final drain` });
  }
  return out;
}

function describeReceive(r: ReceiveRecord): string {
  const start = Number.isFinite(r.startMs) ? iso(r.startMs) : '?';
  return `[handle ${r.receiptHandle}, ${start} .. ${iso(r.endMs)}, nextVisibleTime ${r.nextVisibleTime}, dequeueCount ${r.dequeueCount}]`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list === undefined) out.set(k, [it]);
    else list.push(it);
  }
  return out;
}

/** Violations one per line, for assertion messages. */
export function formatViolations(violations: readonly Violation[], max = 20): string {
  const lines = violations.slice(0, max).map((v) => `${v.kind} ${JSON.stringify(v.body)}: ${v.detail}`);
  if (violations.length > max) lines.push(`… and ${violations.length - max} more`);
  return lines.join('\n');
}
