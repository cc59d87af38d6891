// Deliberately broken variants of the shipped access layer for the multi-set simulator: each is a
// patch of one method of the real class, installed for one run and removed after it, so the
// checkers are shown to catch a real defect in the code the server runs, not in a model of it.

import type { Command, CommandResult } from '../../src/broker/commands';
import { ClusterQueueService } from '../../src/node/cluster-service';
import { RouteCache } from '../../src/node/route-cache';
import type { RequestContext } from '../../src/service/request-context';

export type MultiSetBug =
  // The access layer answers a topic's delivery into a queue on another set "sent" when the send
  // failed (no leader there, a partition, an unknown outcome): the topic's outbox then drops it.
  | 'outboxFailureAsSent'
  // The route cache keeps the first route it learned for a name, whatever the controller says
  // later and however often the set it names answers that the queue does not exist.
  | 'firstRouteForever';

export const MULTISET_SIM_BUGS: readonly MultiSetBug[] = ['outboxFailureAsSent', 'firstRouteForever'];

type Submit = (this: ClusterQueueService, ctx: RequestContext, command: Command) => Promise<CommandResult>;

/** A topic outbox's send: one body with a `t:` deduplication key (node/outbox.ts outboxDedupId). */
function isTopicDelivery(command: Command): boolean {
  return command.kind === 'sendMessages' && command.options?.[0]?.dedupId?.startsWith('t:') === true;
}

/** Installs `bug` and returns the function that removes it. */
export function installMultiSetPatch(bug: MultiSetBug): () => void {
  switch (bug) {
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
