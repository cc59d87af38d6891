// Deliberately broken variants of the shipped access layer and queue mover for the multi-set
// simulator: each is a patch of one method of the real class, installed for one run and removed
// after it, so the checkers are shown to catch a real defect in the code the server runs, not in a
// model of it.

import type { Command, CommandResult } from '../../src/broker/commands';
import { INFLIGHT } from '../../src/broker/message-store';
import type { QueueState } from '../../src/broker/queue';
import { Redriver } from '../../src/broker/redrive';
import { ClusterQueueService } from '../../src/node/cluster-service';
import * as queueMove from '../../src/node/queue-move';
import { QueueMover, type QueueMoverOptions } from '../../src/node/queue-move';
import { RouteCache } from '../../src/node/route-cache';
import type { RequestContext } from '../../src/service/request-context';

export type MultiSetBug =
  // The access layer answers a topic's delivery into a queue on another set "sent" when the send
  // failed (no leader there, a partition, an unknown outcome): the topic's outbox then drops it.
  | 'outboxFailureAsSent'
  // The route cache keeps the first route it learned for a name, whatever the controller says
  // later and however often the set it names answers that the queue does not exist.
  | 'firstRouteForever'
  // A live move also sends the source's messages in flight to the target (as if their visibility
  // ended at once): a consumer still holds them while the target hands them out again.
  | 'moveInFlight'
  // The mover deletes the source as soon as nothing visible is left to move, with messages still
  // in flight there: those a consumer does not delete in time are gone.
  | 'moveDeletesBusySource'
  // A move creates the queue on the target with the source's settings but without its dead-letter
  // policy: once there, a message its consumers never delete is handed out again and again
  // instead of being dead-lettered after maxReceiveCount receives.
  | 'moveDropsDeadLetterPolicy'
  // A move of a dead-letter queue sends each dead letter to the target as a dead letter of the
  // dead-letter queue itself, not of the queue it came from: a redrive on the target can no longer
  // send it back to its source.
  | 'moveForgetsDeadLetterSource';

export const MULTISET_SIM_BUGS: readonly MultiSetBug[] = ['outboxFailureAsSent', 'firstRouteForever', 'moveInFlight', 'moveDeletesBusySource', 'moveDropsDeadLetterPolicy', 'moveForgetsDeadLetterSource'];

type Submit = (this: ClusterQueueService, ctx: RequestContext, command: Command) => Promise<CommandResult>;

/** A topic outbox's send: one body with a `t:` deduplication key (node/outbox.ts outboxDedupId). */
function isTopicDelivery(command: Command): boolean {
  return command.kind === 'sendMessages' && command.options?.[0]?.dedupId?.startsWith('t:') === true;
}

/** Installs `bug` and returns the function that removes it. */
export function installMultiSetPatch(bug: MultiSetBug): () => void {
  switch (bug) {
    case 'moveDropsDeadLetterPolicy': {
      // The access layer's move start creates the target through this export (the mover, asked later, finds it there).
      const mod = queueMove as unknown as { createMoveTarget: typeof queueMove.createMoveTarget };
      const original = mod.createMoveTarget;
      mod.createMoveTarget = (controller, target, ctx, name, to, src, ...rest) => {
        const { deadLetterPolicy: _dropped, ...withoutPolicy } = src;
        return original(controller, target, ctx, name, to, withoutPolicy, ...rest);
      };
      return () => {
        mod.createMoveTarget = original;
      };
    }
    case 'moveForgetsDeadLetterSource': {
      const proto = ClusterQueueService.prototype as unknown as { submit: Submit };
      const original = proto.submit;
      proto.submit = function (ctx, command) {
        // A move's send (moveOrigin) of a dead letter: named as one of the queue being moved.
        if (command.kind === 'sendMessages' && command.options?.some((o) => o?.moveOrigin !== undefined && o.deadLetterSource !== undefined) === true) {
          const options = command.options.map((o) => (o?.moveOrigin !== undefined && o.deadLetterSource !== undefined ? { ...o, deadLetterSource: command.queueName } : o));
          return original.call(this, ctx, { ...command, options });
        }
        return original.call(this, ctx, command);
      };
      return () => {
        proto.submit = original;
      };
    }
    case 'outboxFailureAsSent': {
      const proto = ClusterQueueService.prototype as unknown as { submit: Submit };
      const original = proto.submit;
      proto.submit = async function (ctx, command) {
        const r = await original.call(this, ctx, command);
        if (r.ok || !isTopicDelivery(command)) return r;
        return { ok: true, kind: 'sendMessages', msgIds: command.kind === 'sendMessages' ? command.bodies.map(() => 'lost') : [] };
      };
      return () => {
        proto.submit = original;
      };
    }
    case 'moveInFlight': {
      type MoveMessages = Redriver['moveMessages'];
      const proto = Redriver.prototype as unknown as { moveMessages: MoveMessages; host: { queue(name: string): QueueState | undefined } };
      const original = proto.moveMessages;
      proto.moveMessages = function (this: typeof proto, ...args: Parameters<MoveMessages>) {
        const [sourceQueue, , , taskHandle, , remoteDestination] = args;
        const src = remoteDestination === true && taskHandle === undefined ? this.host.queue(sourceQueue) : undefined;
        // Every message in flight made visible (its deadline treated as passed), so the move takes it too.
        if (src !== undefined) (src as unknown as { releaseDue(heap: unknown, state: number, nowMs: number): void }).releaseDue(src.inflight, INFLIGHT, Number.MAX_SAFE_INTEGER);
        return original.apply(this, args);
      };
      return () => {
        proto.moveMessages = original;
      };
    }
    case 'moveDeletesBusySource': {
      type Step = QueueMover['step'];
      const proto = QueueMover.prototype as unknown as { step: Step; opts: QueueMoverOptions };
      const original = proto.step;
      proto.step = async function (this: typeof proto, ...args: Parameters<Step>) {
        const step = await original.apply(this, args);
        // 'waiting': nothing visible left, messages in flight (or delayed) still there.
        if (step === 'waiting') await this.opts.own.submit(this.opts.ctx(), { kind: 'deleteQueue', queueName: args[0].name });
        return step;
      };
      return () => {
        proto.step = original;
      };
    }
    case 'firstRouteForever': {
      type Patched = { set: RouteCache['set']; drop: RouteCache['drop'] };
      const proto = RouteCache.prototype as unknown as Patched;
      const { set, drop } = proto;
      proto.set = function (this: RouteCache, ...args: Parameters<RouteCache['set']>) {
        return this.peek(args[0], args[1]) ?? set.apply(this, args);
      };
      proto.drop = function (): void {};
      return () => {
        proto.set = set;
        proto.drop = drop;
      };
    }
  }
}
