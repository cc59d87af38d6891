// The frame of a fault test: a failover-aware load on one queue of a test set, every outcome the
// clients saw recorded in a History, and at the end a complete drain checked against it (no
// acknowledged send lost, no delivery twice within a visibility period, no deleted message back,
// no send answered 6100 "not applied" delivered after all).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { formatViolations, History, type HistorySummary } from './history';
import { answerKey, callUntilOk, cmqRequest, drainQueue, NOT_APPLIED, startLoad, type LoadHandle, type LoadStats } from './load-clients';

export interface CheckedLoadOptions {
  /** Every member's URL; clients start spread over them. */
  endpoints: string[];
  queueName: string;
  /** The queue's visibilityTimeout; finish() waits this long before draining. */
  visibilityTimeoutS: number;
  /** Default 3. */
  senders?: number;
  /** Default 3. */
  receivers?: number;
  /** Messages per request (Batch* actions); unset: single-message actions. */
  batch?: number;
  /** Timeout of sends and deletes (default 3000 ms), so a frozen node costs a client little. */
  requestTimeoutMs?: number;
}

export interface CheckedLoadReport {
  summary: HistorySummary;
  stats: LoadStats;
  /** Messages read by the final drain. */
  drained: number;
  /** Error answers of the load clients and the probes by "code/module" (e.g. "6100/10800"). */
  errorAnswers: Record<string, number>;
}

export class CheckedLoad {
  private probes = 0;
  private readonly probeAnswers: Record<string, number> = {};
  private readonly probeRunId = randomBytes(4).toString('hex');

  private constructor(
    private readonly opts: CheckedLoadOptions,
    private readonly load: LoadHandle,
    /** Everything the clients (and probes) saw. */
    readonly history: History,
  ) {}

  /** Create the queue (retrying until the set has a leader) and start the clients. */
  static async start(opts: CheckedLoadOptions): Promise<CheckedLoad> {
    await callUntilOk(
      opts.endpoints,
      'CreateQueue',
      { queueName: opts.queueName, visibilityTimeout: opts.visibilityTimeoutS },
      // 4460: an earlier attempt whose answer was lost created it.
      { timeoutMs: 20_000, acceptCodes: [4460] },
    );
    const history = new History();
    const load = startLoad({
      endpoints: opts.endpoints,
      queueName: opts.queueName,
      senders: opts.senders ?? 3,
      receivers: opts.receivers ?? 3,
      history,
      requestTimeoutMs: opts.requestTimeoutMs ?? 3000,
      ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
    });
    return new CheckedLoad(opts, load, history);
  }

  stats(): LoadStats {
    return this.load.stats();
  }

  /** Stop the clients without checking (e.g. from TestSet.onClose when a test fails; finish() stops them too). */
  stop(): Promise<void> {
    return this.load.stop({ graceMs: 3000 });
  }

  /**
   * Wait until the clients made progress: `sends` more acknowledged sends and `deletes` more
   * acknowledged deletes than when called. Throws after `timeoutMs` (the set stopped serving).
   */
  async waitForProgress(opts: { sends?: number; deletes?: number; timeoutMs?: number } = {}): Promise<void> {
    const before = this.load.stats();
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = this.load.stats();
      const sendsDone = now.sendsAcked - before.sendsAcked >= (opts.sends ?? 1);
      const deletesDone = now.deletesAcked - before.deletesAcked >= (opts.deletes ?? 0);
      if (sendsDone && deletesDone) return;
      if (Date.now() > deadline) {
        throw new Error(
          `no progress within ${timeoutMs} ms: +${now.sendsAcked - before.sendsAcked} sends, +${now.deletesAcked - before.deletesAcked} deletes ` +
            `(last error: ${now.lastError ?? 'none'})`,
        );
      }
      await sleep(50);
    }
  }

  /**
   * One SendMessage of a fresh probe body through `endpoint`, recorded in the history; resolves
   * with whether it was acknowledged and, if not, why.
   */
  async probeSend(endpoint: string, timeoutMs = 3000): Promise<{ acked: boolean; atMs: number; reason: string }> {
    const body = `probe-${this.probeRunId}-${this.probes++}`;
    this.history.sendInvoked(body);
    let reason: string;
    try {
      const r = await cmqRequest(endpoint, 'SendMessage', { queueName: this.opts.queueName, msgBody: body }, { timeoutMs });
      if (r.code === 0 && typeof r.msgId === 'string') {
        this.history.sendAcked(body, r.msgId);
        return { acked: true, atMs: Date.now(), reason: '' };
      }
      reason = `${endpoint}: code ${r.code}: ${r.message}`;
      const key = answerKey(r);
      this.probeAnswers[key] = (this.probeAnswers[key] ?? 0) + 1;
      if (r.code === NOT_APPLIED) {
        this.history.sendNotApplied(body, reason);
        return { acked: false, atMs: Date.now(), reason };
      }
    } catch (err) {
      reason = `${endpoint}: ${err instanceof Error ? err.message : String(err)}`;
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
        this.history.sendNotApplied(body, reason);
        return { acked: false, atMs: Date.now(), reason };
      }
    }
    this.history.sendFailed(body, reason);
    return { acked: false, atMs: Date.now(), reason };
  }

  /**
   * Probe sends through `endpoints` in turn, a fresh one every `everyMs` without waiting for those
   * in flight, until one is acknowledged; returns the time from `sinceMs` to the first
   * acknowledgement. Overlapping probes measure when the set serves again, not how long one
   * unlucky request hung (e.g. forwarded to a frozen leader).
   */
  async firstWrite(endpoints: string[], sinceMs: number, opts: { timeoutMs?: number; everyMs?: number } = {}): Promise<number> {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const deadline = Date.now() + timeoutMs;
    let firstAckMs: number | undefined;
    let last = 'no attempt';
    const inFlight: Promise<void>[] = [];
    for (let attempt = 0; firstAckMs === undefined && Date.now() < deadline; attempt++) {
      inFlight.push(
        this.probeSend(endpoints[attempt % endpoints.length]!).then((out) => {
          if (out.acked) firstAckMs = Math.min(firstAckMs ?? Infinity, out.atMs);
          else last = out.reason;
        }),
      );
      await sleep(opts.everyMs ?? 50);
    }
    await Promise.all(inFlight); // every probe's outcome is in the history before it is checked
    if (firstAckMs === undefined) throw new Error(`no write acknowledged through ${endpoints.join(', ')} within ${timeoutMs} ms; last: ${last}`);
    return firstAckMs - sinceMs;
  }

  /**
   * Stop the clients, wait until every message they may still hold is visible again, drain the
   * queue through `drainEndpoints` (default: all), and assert the history has no violation.
   */
  async finish(drainEndpoints = this.opts.endpoints): Promise<CheckedLoadReport> {
    await this.stop();
    await sleep(this.opts.visibilityTimeoutS * 1000 + 1000);
    const drained = await drainQueue({ endpoints: drainEndpoints, queueName: this.opts.queueName, history: this.history, timeoutMs: 30_000 });
    const violations = this.history.check(drained, { visibilityTimeoutMs: this.opts.visibilityTimeoutS * 1000, drainIsComplete: true });
    assert.deepEqual(violations, [], `history violations:\n${formatViolations(violations)}`);
    const summary = this.history.summary();
    const stats = this.load.stats();
    assert.ok(summary.sendsAcked > 0 && summary.receives > 0 && summary.deletesAcked > 0, `the load did nothing: ${JSON.stringify(summary)}`);
    const errorAnswers = { ...stats.errorAnswers };
    for (const [k, n] of Object.entries(this.probeAnswers)) errorAnswers[k] = (errorAnswers[k] ?? 0) + n;
    return { summary, stats, drained: drained.length, errorAnswers };
  }
}

/** One line about a finished load, for the test log. */
export function describeReport(r: CheckedLoadReport): string {
  const s = r.summary;
  return (
    `sends acked ${s.sendsAcked} (outcome unknown ${s.sendsFailed}, certainly not applied ${s.sendsNotApplied}: answered 6100 or connection refused), receives ${s.receives}, deletes acked ${s.deletesAcked} (failed ${s.deletesFailed}), ` +
    `drained ${r.drained}, client errors ${r.stats.errors}; error answers ${JSON.stringify(r.errorAnswers)}`
  );
}
