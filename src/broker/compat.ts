// What replicas of the previous release can apply. A set is upgraded one member at a time, so for
// a while a leader of this release replicates to followers of the previous one (and a follower of
// this release calls a leader of the previous one). Those decode only the commands they knew: a
// committed entry one of them cannot decode would stop it. So while any member runs the previous
// release, a command is proposed only in a form it applies: as it is, rewritten to the older form
// with the same effect, or not at all (the caller answers "not applied": retry once every member
// is upgraded). The node asks (node/queue-node.ts, node/service-calls.ts); this only decides.

import type { Command } from './commands';

/** Whether a replica of the previous release decodes `cmd` (its kind and every field it has). */
export function olderReplicasCanApply(cmd: Command): boolean {
  switch (cmd.kind) {
    case 'sendMessages':
      return cmd.delaySeconds !== null && cmd.options === undefined;
    case 'receiveMessages':
      return cmd.visibilitySeconds === undefined && cmd.attemptId === undefined;
    case 'publishMessages':
      return cmd.dedupId === undefined;
    case 'subscribe':
    case 'setSubscriptionAttributes':
      return cmd.remoteQueue !== true;
    case 'deleteQueue':
      return cmd.ifEmpty !== true;
    case 'createQueue':
    case 'setQueueAttributes':
      return cmd.attrs.sqs === undefined && cmd.attrs.tags === undefined && cmd.attrs.deadLetterPolicy?.remote !== true;
    // Kinds the previous release knew, unchanged.
    case 'deleteMessages':
    case 'rewindQueue':
    case 'unbindDeadLetter':
    case 'quarantineMessage':
    case 'tick':
    case 'relocateBodies':
    case 'createTopic':
    case 'setTopicAttributes':
    case 'deleteTopic':
    case 'unsubscribe':
    case 'clearSubscriptionFilterTags':
    case 'pushSucceeded':
    case 'pushFailed':
      return true;
    // This release's kinds (every kind added later belongs here too).
    case 'changeVisibility':
    case 'purgeQueue':
    case 'tagQueue':
    case 'untagQueue':
    case 'moveMessages':
    case 'startMoveTask':
    case 'cancelMoveTask':
    case 'deadLetterSent':
    case 'deadLetterFailed':
      return false;
  }
}

/**
 * `cmd` as a replica of the previous release applies it, or undefined when it has no such form.
 * Receive attempt ids and deduplication ids are dropped (a retried send may then be stored twice, as it could before this
 * release), and a send without its own delay gets delay 0: no queue can have a delay of its own
 * yet, since setting one (SQS DelaySeconds) is itself refused until every member is upgraded.
 */
export function forOlderReplicas(cmd: Command): Command | undefined {
  if (olderReplicasCanApply(cmd)) return cmd;
  if (cmd.kind === 'sendMessages') {
    const onlyDedup = cmd.options === undefined || cmd.options.every((o) => Object.keys(o).every((k) => k === 'dedupId'));
    if (!onlyDedup) return undefined;
    return { kind: 'sendMessages', queueName: cmd.queueName, delaySeconds: cmd.delaySeconds ?? 0, bodies: cmd.bodies };
  }
  if (cmd.kind === 'publishMessages') {
    const { dedupId: _dropped, ...rest } = cmd;
    return rest;
  }
  // An attempt id is dropped: a retried receive is then a fresh one, as it was before this
  // release. A receive's own visibility has no older form (the messages would stay in flight for
  // the queue's timeout instead).
  if (cmd.kind === 'receiveMessages' && cmd.visibilitySeconds === undefined) {
    const { attemptId: _dropped, ...rest } = cmd;
    return rest;
  }
  // A dead-letter queue on another set has no older form either: bound as a local one, it would
  // be refused (not on this set), and older replicas keep no outbox of dead letters.
  // A remote queue subscription has no older form: subscribed as a local queue, every message
  // would be dropped (the queue is not on this set), so it waits until every member is upgraded.
  return undefined;
}
