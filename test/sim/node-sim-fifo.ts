// The FIFO and redrive workload of the queue-level simulation (node-sim.ts): a FIFO queue whose
// messages go to a FIFO dead-letter queue after FIFO_MAX_RECEIVES receives, and an operator
// redriving that dead-letter queue, under the same faults as the rest of the run.
//
// - Producers send batches of 1-4 bodies, each to one of a few message groups, every body with a
//   deduplication id; a send that fails (not applied, or its outcome unknown) is sent again, same
//   bodies, same groups, same ids, before anything new.
// - Consumers receive from the FIFO queue (mostly) and the dead-letter queue, and delete most of
//   what they get within the visibility timeout, some late, some never. One body in five is a
//   poison message: never deleted from the FIFO queue, so after FIFO_MAX_RECEIVES receives it is
//   moved to the dead-letter queue, where it is deleted as any other.
// - An operator starts move tasks on the dead-letter queue (back to the queues the messages came
//   from, or to the FIFO queue by name; at a pace or none), cancels half of those that run,
//   and moves a few messages with a direct moveMessages. The leader's move loop runs the tasks,
//   and a new leader resumes them.
//
// Draws come from a random stream of the workload's own, so adding it left the choices of the
// rest of a seed (faults included) as they were; only the traffic they meet changed.

import type { Command, QueueAttributesInput } from '../../src/broker/commands';
import type { QueueService } from '../../src/service/queue-service';
import type { RequestContext } from '../../src/service/request-context';
import type { Prng } from './prng';
import { bodyFor, bodyIdOf, dedupIdOf, type QueueHistory } from './queue-history';

export const FIFO_QUEUE = 'fifo';
export const FIFO_DLQ = 'fifo-dlq';
/** Low, so that messages reach the dead-letter queue all through a run. */
export const FIFO_MAX_RECEIVES = 2;
const FIFO_VISIBILITY_S = 1;
const DLQ_VISIBILITY_S = 2;
const GROUPS = ['ga', 'gb', 'gc', 'gd', 'ge', 'gf'];
const POISON_EVERY = 5;

/** In creation order: the dead-letter queue first, as the other's policy names it. */
export const FIFO_QUEUES: readonly { name: string; visibilityTimeout: number; attrs: QueueAttributesInput }[] = [
  { name: FIFO_DLQ, visibilityTimeout: DLQ_VISIBILITY_S, attrs: { visibilityTimeout: DLQ_VISIBILITY_S, pollingWaitSeconds: 0, sqs: { fifo: true } } },
  {
    name: FIFO_QUEUE,
    visibilityTimeout: FIFO_VISIBILITY_S,
    attrs: {
      visibilityTimeout: FIFO_VISIBILITY_S,
      pollingWaitSeconds: 0,
      sqs: { fifo: true },
      deadLetterPolicy: { deadLetterQueue: FIFO_DLQ, policy: 0, maxReceiveCount: FIFO_MAX_RECEIVES },
    },
  },
];

/** A client of the workload: busy while a call of its is under way. */
export interface FifoClient {
  busy: boolean;
}

/** A member to call, as the simulation picks it, and how to call it. */
export interface FifoTarget {
  service: QueueService;
  issue<T>(client: FifoClient, p: Promise<T>, done: (value: T | undefined) => void): void;
}

export interface FifoWorkloadHost {
  nowMs(): number;
  /** Producers and the operator run while this holds. */
  producing(): boolean;
  /** Consumers run while this holds. */
  consuming(): boolean;
  readonly history: QueueHistory;
  pick(rng: Prng): FifoTarget | undefined;
  /** New body ids, registered for the checkers. */
  newBodies(n: number): number[];
  ctx(): RequestContext;
}

interface Held {
  queue: string;
  handle: string;
  deleteAtMs: number;
}

interface Producer extends FifoClient {
  retry?: { bodyIds: number[]; groupIds: string[] };
}

interface Consumer extends FifoClient {
  held: Held[];
}

interface Operator extends FifoClient {
  /** The task it started last and means to cancel, and when. */
  cancel?: { taskHandle: string; atMs: number };
}

export interface FifoWorkloadStats {
  fifoSendsAttempted: number;
  fifoDedupRetries: number;
  fifoReceives: number;
  moveTaskStarts: number;
  moveTaskCancels: number;
  directMoves: number;
}

export class FifoWorkload {
  private readonly producers: Producer[] = [{ busy: false }, { busy: false }];
  private readonly consumers: Consumer[] = [
    { busy: false, held: [] },
    { busy: false, held: [] },
  ];
  private readonly operator: Operator = { busy: false };
  readonly stats: FifoWorkloadStats = { fifoSendsAttempted: 0, fifoDedupRetries: 0, fifoReceives: 0, moveTaskStarts: 0, moveTaskCancels: 0, directMoves: 0 };

  constructor(
    private readonly host: FifoWorkloadHost,
    private readonly rng: Prng,
  ) {}

  /** Some client has a call under way or messages to delete. */
  busy(): boolean {
    return this.producers.some((c) => c.busy) || this.consumers.some((c) => c.busy || c.held.length > 0) || this.operator.busy;
  }

  /** One step of traffic. */
  step(): void {
    if (this.host.producing()) {
      for (const c of this.producers) this.produce(c);
      this.operate();
    }
    if (this.host.consuming()) for (const c of this.consumers) this.consume(c);
  }

  private produce(c: Producer): void {
    if (c.busy || !this.rng.chance(0.07)) return;
    const target = this.host.pick(this.rng);
    if (!target) return;
    const retry = c.retry;
    c.retry = undefined;
    const bodyIds = retry?.bodyIds ?? this.host.newBodies(this.rng.int(1, 4));
    const groupIds = retry?.groupIds ?? bodyIds.map(() => this.rng.pick(GROUPS));
    if (retry === undefined) this.stats.fifoSendsAttempted += bodyIds.length;
    else this.stats.fifoDedupRetries++;
    const command: Command = {
      kind: 'sendMessages',
      queueName: FIFO_QUEUE,
      delaySeconds: null,
      bodies: bodyIds.map(bodyFor),
      options: bodyIds.map((id, k) => ({ groupId: groupIds[k]!, dedupId: dedupIdOf(id) })),
    };
    target.issue(c, target.service.submit(this.host.ctx(), command), (r) => {
      if (r?.ok) this.host.history.sendAcked(bodyIds);
      else if (this.host.producing()) c.retry = { bodyIds, groupIds };
    });
  }

  private consume(c: Consumer): void {
    if (c.busy) return;
    const now = this.host.nowMs();
    const due = c.held.filter((h) => h.deleteAtMs <= now);
    if (due.length === 0 && !this.rng.chance(0.2)) return;
    const target = this.host.pick(this.rng);
    if (!target) return;
    if (due.length > 0) {
      const queue = due[0]!.queue;
      const handles = due.filter((h) => h.queue === queue).map((h) => h.handle);
      c.held = c.held.filter((h) => h.deleteAtMs > now || h.queue !== queue);
      target.issue(c, target.service.submit(this.host.ctx(), { kind: 'deleteMessages', queueName: queue, receiptHandles: handles }), () => undefined);
      return;
    }
    // Mostly the FIFO queue, so that the dead-letter queue fills for the move tasks; it drains once producers stopped.
    const queue = this.rng.chance(this.host.producing() ? 0.02 : 0.5) ? FIFO_DLQ : FIFO_QUEUE;
    const numOfMsg = this.rng.int(1, 8);
    this.stats.fifoReceives++;
    target.issue(c, target.service.receive(this.host.ctx(), queue, numOfMsg, 0), (r) => {
      if (!r?.ok) return;
      for (const m of r.messages) {
        this.host.history.clientDelivery('fifo consumer', m.msgId, m.receiptHandle, m.bodyBytes);
        const poison = queue === FIFO_QUEUE && (bodyIdOf(m.bodyBytes) ?? 0) % POISON_EVERY === 0;
        const roll = this.rng.next();
        if (poison || roll < (queue === FIFO_QUEUE ? 0.08 : 0.05)) continue;
        const vis = (queue === FIFO_QUEUE ? FIFO_VISIBILITY_S : DLQ_VISIBILITY_S) * 1000;
        const after = roll < 0.9 ? this.rng.int(0, vis / 2) : this.rng.int(vis, vis * 2);
        c.held.push({ queue, handle: m.receiptHandle, deleteAtMs: this.host.nowMs() + after });
      }
    });
  }

  /** Now and then: start a move task, cancel the running one, or move a few messages directly. */
  private operate(): void {
    const op = this.operator;
    if (op.busy) return;
    const cancel = op.cancel;
    if (cancel !== undefined && cancel.atMs <= this.host.nowMs()) {
      const target = this.host.pick(this.rng);
      if (!target) return;
      op.cancel = undefined;
      this.stats.moveTaskCancels++;
      // It may have completed meanwhile (moveTaskNotRunning): then there is nothing to cancel.
      target.issue(op, target.service.submit(this.host.ctx(), { kind: 'cancelMoveTask', taskHandle: cancel.taskHandle }), () => undefined);
      return;
    }
    const roll = this.rng.next();
    if (roll < 0.004) {
      const destinationQueue = this.rng.chance(0.5) ? null : FIFO_QUEUE;
      const maxPerSecond = this.rng.pick([null, 3, 10, 50]);
      const target = this.host.pick(this.rng);
      if (!target) return;
      this.stats.moveTaskStarts++;
      target.issue(op, target.service.submit(this.host.ctx(), { kind: 'startMoveTask', sourceQueue: FIFO_DLQ, destinationQueue, maxPerSecond }), (r) => {
        // Half the running tasks are cancelled soon, most of them before they are done.
        if (r?.ok && r.kind === 'startMoveTask' && r.task.status === 'RUNNING' && this.rng.chance(0.5)) {
          op.cancel = { taskHandle: r.taskHandle, atMs: this.host.nowMs() + this.rng.int(0, 1500) };
        }
      });
    } else if (roll < 0.005) {
      const target = this.host.pick(this.rng);
      if (!target) return;
      this.stats.directMoves++;
      target.issue(op, target.service.submit(this.host.ctx(), { kind: 'moveMessages', sourceQueue: FIFO_DLQ, destinationQueue: null, maxMessages: this.rng.int(1, 5) }), () => undefined);
    }
  }
}
