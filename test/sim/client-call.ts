// One simulated client call, as both queue-level simulators issue it: the client is busy until the
// call settles or the client's timeout ends; a timeout of a call on a member that stayed up, was
// not replaced and not frozen since the call started is handed to `unanswered` (the simulator
// decides whether that fails the run); the client's handling of the answer runs with check
// failures and exceptions reported through `fail`.

import { QueueCheckFailure, type QueueCheck } from './queue-history';
import type { SimProcessRuntime, SimScheduler } from './sim-runtime';

export interface CallOptions {
  scheduler: SimScheduler;
  timeoutMs: number;
  /** The runtime the member has now (a restart gives it a new one). */
  currentRuntime: () => SimProcessRuntime;
  /** A call left unanswered by a member that was up, not frozen, the same process throughout. */
  unanswered: (startedMs: number) => void;
  fail: (check: QueueCheck | 'exception', message: string) => void;
}

export function issueCall<T>(o: CallOptions, client: { busy: boolean }, p: Promise<T>, done: (value: T | undefined) => void): void {
  client.busy = true;
  let finished = false;
  const startedMs = o.scheduler.nowMs;
  const runtime = o.currentRuntime();
  const finish = (v: T | undefined, timedOut = false): void => {
    if (finished) return;
    finished = true;
    if (timedOut && runtime.alive && runtime === o.currentRuntime() && runtime.frozenUntilMs < startedMs) o.unanswered(startedMs);
    client.busy = false;
    try {
      done(v);
    } catch (err) {
      if (err instanceof QueueCheckFailure) o.fail(err.check, err.message);
      else o.fail('exception', err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
  };
  o.scheduler.schedule(o.timeoutMs, () => finish(undefined, true));
  p.then((v) => finish(v), () => finish(undefined));
}
