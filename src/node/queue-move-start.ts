// OpencmqMoveQueue on the access layer: the checks, the controller's record of the move and the
// queue made on the target; the move itself then runs on the source set's leader
// (node/queue-move.ts). Pure of I/O: the controller and the sets are injected.

import type { EntityRecord } from '../controller/model';
import { fail } from '../protocol/errors';
import type { Logger } from '../protocol/log';
import type { QueueMoveView, QueueService, ServiceResult } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';
import type { ControllerAccess } from './cluster-service';
import { createMoveTarget } from './queue-move';

export interface QueueMoveStartDeps {
  controller: ControllerAccess;
  serviceOf: (setId: number) => QueueService;
  log: Logger;
  /** The route the controller answered beginMove with: cached at once, so this node serves the move from now. */
  sawRoute: (entity: EntityRecord, routeEpoch: number) => void;
}

/**
 * Starts moving a queue, or one shard of a queue of several, to set `toSet`: checked here (it
 * exists, `fromSet` names one of its shards' sets when it has several, not FIFO), recorded at
 * the controller (beginMove of that shard, phase copying; the controller refuses a target that
 * holds a shard of the queue already), and created on the target with the source's settings and
 * dead-letter policy (createMoveTarget; existing there already is fine: a retry). The source
 * set's leader then hands what feeds it on its set over to the route (its dead-letter sources
 * there, its topics' subscriptions there) and drains it (node/queue-move.ts). The same move
 * asked again answers it (a retry); another route change of the queue under way (a move of
 * another shard, or elsewhere; a growth), routeChangeRunning: one at a time per queue.
 */
export async function startQueueMove(deps: QueueMoveStartDeps, ctx: RequestContext, name: string, toSet: number, fromSet?: number): Promise<ServiceResult<{ move: QueueMoveView }>> {
  const rec = await deps.controller.read({ kind: 'getRoute', type: 'queue', name });
  if (!rec.ok) return rec.error === 'queueNotExist' ? rec : fail('notApplied', undefined, `the route of queue ${name} could not be read from the controller (${rec.error}); retry`);
  if (rec.kind !== 'entity') return fail('notApplied', undefined, `the controller answered getRoute with ${rec.kind}; retry`);
  const e = rec.entity;
  const c = e.change;
  const k = e.shards.length;
  const on = `on set${k === 1 ? '' : 's'} ${e.shards.join(', ')}`;
  if (fromSet === undefined && k !== 1) return fail('missingParam', 'fromSet', `(queue ${e.name} has ${k} shards, ${on}: fromSet names the set of the shard to move)`);
  const from = fromSet ?? e.shards[0]!;
  const shard = e.shards.indexOf(from);
  if (shard < 0) {
    // Moved already (the same move asked again after it completed): its target holds a shard now.
    if (c === undefined && e.shards.includes(toSet)) return { ok: true, move: { from, to: toSet, phase: 'done', sourceMessages: 0 } };
    return fail('paramOutOfRange', 'fromSet', `(queue ${e.name} has no shard on set ${from}; it is ${on})`);
  }
  if (c !== undefined && (c.type !== 'move' || c.to !== toSet || c.from !== from)) {
    const running = c.type === 'move' ? `shard ${c.shard} is moving from set ${c.from} to set ${c.to}` : 'it is growing more shards';
    return fail('routeChangeRunning', undefined, `(${running}; one change of a queue's route at a time)`);
  }
  // Already there (a move asked again after it completed): nothing to do.
  if (c === undefined && from === toSet) return { ok: true, move: { from, to: toSet, phase: 'done', sourceMessages: 0 } };
  const src = await deps.serviceOf(from).getQueueAttributes(ctx, e.name);
  // The source is deleted as the move's last step, just before the route changes.
  if (!src.ok && src.error === 'queueNotExist' && c !== undefined) return { ok: true, move: { from, to: toSet, phase: c.phase, sourceMessages: 0 } };
  if (!src.ok) return src;
  const a = src.attributes;
  if (a.sqs.fifo) return fail('queueMoveUnsupported', 'FIFO queues', '(a message group keeps its order on one set)');
  if (c === undefined) {
    const begun = await deps.controller.submit({ kind: 'beginMove', type: 'queue', name: e.name, to: toSet, shard });
    if (!begun.ok) {
      if (begun.error === 'outcomeUnknown') return fail('notApplied', undefined, `starting the move at the controller: ${begun.detail ?? 'outcome unknown'}; retry (a move already started answers as started)`);
      if (begun.error === 'setHoldsEntity' && k > 1) return { ...begun, detail: `(queue ${e.name} is ${on}: a set holds at most one shard of a queue)` };
      return begun;
    }
    if (begun.kind === 'entity') deps.sawRoute(begun.entity, begun.routeEpoch);
  }
  // Asked again while it runs: the mover has made sure of the target (it creates it before moving anything).
  const made = c !== undefined ? undefined : await createMoveTarget(deps.controller, deps.serviceOf(toSet), ctx, e.name, toSet, a, k > 1);
  if (made !== undefined && !made.ok && made.error !== 'queueExists') {
    // The move stays recorded: its mover creates the queue on the target before it moves anything.
    return { ...made, detail: `${made.detail !== undefined ? `${made.detail} ` : ''}(creating the queue on set ${toSet}; the move is recorded and its mover tries again)` };
  }
  const phase = c?.type === 'move' ? c.phase : 'copying';
  if (c === undefined) deps.log.info(k === 1 ? `moving queue ${e.name} from set ${from} to set ${toSet}` : `moving shard ${shard} of queue ${e.name} from set ${from} to set ${toSet}`, { queue: e.name });
  return { ok: true, move: { from, to: toSet, phase, sourceMessages: a.activeMsgNum + a.inactiveMsgNum + a.delayMsgNum } };
}
