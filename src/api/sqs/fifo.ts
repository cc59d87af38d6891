// What a send must carry for the queue it goes to, as SQS decides it: a FIFO queue needs a message
// group id, a deduplication id (given, or derived from the body when the queue has
// ContentBasedDeduplication), and no per-message delay; a standard queue takes no deduplication id
// and keeps a group id as a message attribute only (SQS fair queues). The broker gets the group
// and an opaque deduplication key, namespaced here by the queue's DeduplicationScope.

import { createHash } from 'node:crypto';

import { fail, type ErrorResult } from '../../protocol/errors';
import type { SqsQueueSettings } from '../../protocol/queue-types';

/** The queue settings a send's FIFO rules depend on. */
export type SendTarget = Pick<SqsQueueSettings, 'fifo' | 'contentBasedDeduplication' | 'deduplicationScope'>;

/** What a send's ids become: for the broker, and for the envelope (reported on receive). */
export interface SendFields {
  /** SendBodyOptions.groupId (FIFO queues only). */
  groupId?: string;
  /** SendBodyOptions.dedupId: the deduplication key (FIFO queues only). */
  dedupKey?: string;
  /** Drop the message's own DelaySeconds: 0 on a FIFO queue, which SQS accepts and ignores. */
  dropDelay: boolean;
  /** Message system attributes to store: MessageGroupId, MessageDeduplicationId. */
  system: { MessageGroupId?: string; MessageDeduplicationId?: string };
}

/**
 * The broker's deduplication key of an id. The group id's alphabet has no space, so `g:<group> <id>`
 * names one (group, id) pair only; `q:` and `g:` keep the two scopes apart, so changing a queue's
 * DeduplicationScope never matches a key of the other scope.
 */
export function dedupKey(scope: SqsQueueSettings['deduplicationScope'], groupId: string, dedupId: string): string {
  return scope === 'messageGroup' ? `g:${groupId} ${dedupId}` : `q:${dedupId}`;
}

/** ContentBasedDeduplication's id: the SHA-256 of the body (not its attributes), in hex. */
export function contentDedupId(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * The queue's rules applied to one message's ids and delay. `target` undefined: the queue's
 * settings were not read because no message of the request has an id; such a send is passed on as
 * it is and a FIFO queue's broker refuses it (fifoGroupIdRequired).
 */
export function sendFields(
  target: SendTarget | undefined,
  ids: { groupId?: string; dedupId?: string },
  /** The message body (its UTF-8 bytes, or its text: content-based deduplication hashes the same bytes). */
  body: Uint8Array | string,
  delaySeconds: number | undefined,
): SendFields | ErrorResult {
  if (target === undefined || !target.fifo) {
    // Never reached without the settings: a dedup id makes the action read them.
    if (ids.dedupId !== undefined) {
      return fail('invalidParameterValue', 'MessageDeduplicationId', '(the request includes a parameter that is not valid for this queue type: only FIFO queues take it)');
    }
    return { dropDelay: false, system: ids.groupId !== undefined ? { MessageGroupId: ids.groupId } : {} };
  }
  if (ids.groupId === undefined) return fail('fifoGroupIdRequired', undefined, '(MessageGroupId)');
  if (delaySeconds !== undefined && delaySeconds > 0) {
    return fail('fifoMessageDelay', undefined, `(DelaySeconds ${delaySeconds}: the request includes a parameter that is not valid for this queue type)`);
  }
  let dedupId = ids.dedupId;
  if (dedupId === undefined) {
    if (!target.contentBasedDeduplication) {
      return fail('invalidParameterValue', 'MessageDeduplicationId', '(the queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly)');
    }
    dedupId = contentDedupId(body);
  }
  return {
    groupId: ids.groupId,
    dedupKey: dedupKey(target.deduplicationScope, ids.groupId, dedupId),
    dropDelay: delaySeconds !== undefined,
    system: { MessageGroupId: ids.groupId, MessageDeduplicationId: dedupId },
  };
}
