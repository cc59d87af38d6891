// OpencmqMoveQueue: opencmq's extension action that moves a queue, with its messages, to another
// set of the cluster while it stays in use (node/queue-move.ts); for a queue of several shards,
// `fromSet` names the set of the shard that moves. It answers once the move is recorded and the
// queue exists on the target set; the source set's leader then drains the source, and
// GetQueueAttributes / this action again show how far it got.

import type { ActionHandler } from './actions';
import { isError, optionalInt, requiredInt } from './params';
import { queueNameParam } from './queue-validation';
import { success } from './response';
import { fail } from '../protocol/errors';

/** Set ids are u32, 0 is never a set (controller/model.ts). */
const SET_ID_MAX = 0xffff_ffff;

export const MOVE_QUEUE_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  OpencmqMoveQueue: async (env, params) => {
    const queueName = queueNameParam(params);
    if (isError(queueName)) return queueName;
    const toSet = requiredInt(params, 'toSet', { min: 1, max: SET_ID_MAX });
    if (isError(toSet)) return toSet;
    const fromSet = optionalInt(params, 'fromSet', { min: 1, max: SET_ID_MAX });
    if (isError(fromSet)) return fromSet;
    const service = env.service;
    if (service.moveQueue === undefined) return fail('queueMoveUnsupported', 'a node without a cluster controller', '(it is one set: there is no other set to move to)');
    const r = await service.moveQueue(env.ctx, queueName, toSet, fromSet);
    return r.ok ? success({ fromSet: r.move.from, toSet: r.move.to, phase: r.move.phase, sourceMessages: r.move.sourceMessages }) : r;
  },
};
