// OpencmqRedriveDeadLetterQueue: opencmq's extension action that moves the messages of a
// dead-letter queue back to the queues they were dead-lettered from, or to a named queue. It is
// synchronous: it submits moveMessages entries of LIMITS.moveBatchMax messages, one after the
// other, until maxMessages have moved or nothing movable is left, and answers how many moved. Each
// entry is applied on its own, so a failure part way leaves the earlier batches moved (the error's
// detail says how many); running the action again moves what is left.

import type { ActionHandler } from './actions';
import { isError, optionalInt, optionalString } from './params';
import { queueNameParam } from './queue-validation';
import { success } from './response';
import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { RESOURCE_NAME_RE } from '../protocol/names';

export const REDRIVE_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  OpencmqRedriveDeadLetterQueue: async (env, params) => {
    const queueName = queueNameParam(params);
    if (isError(queueName)) return queueName;
    const destination = optionalString(params, 'destinationQueueName');
    if (destination !== undefined && !RESOURCE_NAME_RE.test(destination)) return fail('queueNameFormat');
    const max = optionalInt(params, 'maxMessages', { min: 1, max: LIMITS.redriveMessagesMax });
    if (isError(max)) return max;
    const wanted = max ?? LIMITS.redriveMessagesMax;
    let moved = 0;
    while (moved < wanted) {
      const batch = Math.min(LIMITS.moveBatchMax, wanted - moved);
      const r = await env.service.submit(env.ctx, { kind: 'moveMessages', sourceQueue: queueName, destinationQueue: destination ?? null, maxMessages: batch });
      if (!r.ok) return moved === 0 ? r : partly(r, moved);
      if (r.kind !== 'moveMessages') return fail('internalError', undefined, `moveMessages answered ${r.kind}`);
      moved += r.moved;
      // Fewer than asked: nothing movable is left (what stays has no known source queue).
      if (r.moved < batch) break;
    }
    return success({ moved });
  },
};

/** A failure after some batches moved: the same error, saying what moved before it. */
function partly(r: ErrorResult, moved: number): ErrorResult {
  const before = `${moved} messages had been moved before this failure`;
  return fail(r.error, r.arg, r.detail === undefined ? before : `${r.detail}; ${before}`);
}
