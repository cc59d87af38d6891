// What a queue's dead-letter queue must be (spec §2.6, §2.7, and SQS's rules for FIFO queues and
// redrive allow policies), written once for the two places that check it: the state machine, when
// the dead-letter queue is on its own set, and the access layer (node/cluster-service.ts), which
// reads the dead-letter queue's attributes from its set when it is on another one.

import { fail, type ErrorResult } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import type { RedriveAllowPolicy } from './commands';

/** What the rules look at of a would-be dead-letter queue. */
export interface DeadLetterQueueView {
  /** It has a dead-letter policy of its own (dead-letter queues do not nest). */
  hasPolicy: boolean;
  fifo: boolean;
  redriveAllowPolicy: RedriveAllowPolicy | null;
}

/** Why `dlq` cannot be the dead-letter queue of the queue `sourceName`; undefined when it can. */
export function deadLetterQueueRefusal(sourceName: string, sourceFifo: boolean, dlq: DeadLetterQueueView): ErrorResult | undefined {
  if (dlq.hasPolicy) return fail('dlqNested', undefined, 'the dead-letter queue has a dead-letter queue');
  // SQS: a FIFO queue's dead-letter queue is a FIFO queue, a standard queue's a standard one.
  if (dlq.fifo !== sourceFifo) {
    return fail('dlqPolicyParams', undefined, sourceFifo ? 'the dead-letter queue of a FIFO queue must be a FIFO queue' : 'the dead-letter queue of a standard queue must be a standard queue');
  }
  const allow = dlq.redriveAllowPolicy;
  if (allow !== null && (allow.permission === 'denyAll' || (allow.permission === 'byQueue' && !(allow.sourceQueueNames ?? []).includes(sourceName)))) {
    return fail('dlqNotAllowed');
  }
  return undefined;
}

/** A dead-letter queue that already has `otherSources` sources (the queue being bound not counted) takes no more. */
export function deadLetterSourcesRefusal(otherSources: number): ErrorResult | undefined {
  return otherSources >= LIMITS.deadLetterSourcesMax ? fail('dlqBindTooMany') : undefined;
}
