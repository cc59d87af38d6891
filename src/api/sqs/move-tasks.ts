// SQS message move tasks (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask)
// over the broker's replicated move tasks (broker/redrive.ts): a task moves the messages a
// dead-letter queue holds back to the queues they came from (or to DestinationArn), paced by the
// leader, and resumes after a failover. TaskHandle is the broker's task handle.

import type { MoveTaskView } from '../../broker/commands';
import { fail, type ErrorResult } from '../../protocol/errors';
import { LIMITS } from '../../protocol/limits';
import { submit } from '../queue-actions';
import { isError } from '../params';
import { queueArn, queueNameOfArn } from './queue-url';
import type { SqsAction, SqsEnv, SqsInput, SqsOutput } from './types';
import { optionalInt, optionalString, requiredString } from './validation';

/** ListMessageMoveTasks' MaxResults (SQS: 1-10, default 1). */
const LIST_RESULTS = { min: 1, max: LIMITS.moveTasksPerQueueMax, def: 1 } as const;

function queueOfArn(env: SqsEnv, input: SqsInput, member: string): string | undefined | ErrorResult {
  const arn = member === 'SourceArn' ? requiredString(input, member) : optionalString(input, member);
  if (arn === undefined || isError(arn)) return arn;
  return queueNameOfArn(env, arn) ?? fail('invalidParameterValue', member, `(${arn} is not a queue ARN of this account)`);
}

const startMessageMoveTask: SqsAction = async (env, input) => {
  const source = queueOfArn(env, input, 'SourceArn');
  if (source === undefined || isError(source)) return source ?? fail('missingParam', 'SourceArn');
  const destination = queueOfArn(env, input, 'DestinationArn');
  if (isError(destination)) return destination;
  const rate = optionalInt(input, 'MaxNumberOfMessagesPerSecond', { min: 1, max: LIMITS.moveMaxPerSecondMax });
  if (isError(rate)) return rate;
  const r = await submit(env, { kind: 'startMoveTask', sourceQueue: source, destinationQueue: destination ?? null, maxPerSecond: rate ?? null });
  return r.ok ? { TaskHandle: r.taskHandle } : r;
};

function taskResult(env: SqsEnv, t: MoveTaskView): SqsOutput {
  const out: SqsOutput = {
    Status: t.status,
    SourceArn: queueArn(env, t.sourceQueue),
    ApproximateNumberOfMessagesMoved: t.movedCount,
    ApproximateNumberOfMessagesToMove: t.toMove,
    StartedTimestamp: t.startedMs,
  };
  // As SQS: only a running task's handle is given (it is what CancelMessageMoveTask takes).
  if (t.status === 'RUNNING') out['TaskHandle'] = t.taskHandle;
  if (t.destinationQueue !== null) out['DestinationArn'] = queueArn(env, t.destinationQueue);
  if (t.maxPerSecond !== null) out['MaxNumberOfMessagesPerSecond'] = t.maxPerSecond;
  if (t.failureReason !== undefined) out['FailureReason'] = t.failureReason;
  return out;
}

const listMessageMoveTasks: SqsAction = async (env, input) => {
  const source = queueOfArn(env, input, 'SourceArn');
  if (source === undefined || isError(source)) return source ?? fail('missingParam', 'SourceArn');
  const max = optionalInt(input, 'MaxResults', LIST_RESULTS);
  if (isError(max)) return max;
  const r = await env.service.listMoveTasks(env.ctx, source);
  if (!r.ok) return r;
  return { Results: r.tasks.slice(0, max ?? LIST_RESULTS.def).map((t) => taskResult(env, t)) };
};

const cancelMessageMoveTask: SqsAction = async (env, input) => {
  const taskHandle = requiredString(input, 'TaskHandle');
  if (isError(taskHandle)) return taskHandle;
  const r = await submit(env, { kind: 'cancelMoveTask', taskHandle });
  return r.ok ? { ApproximateNumberOfMessagesMoved: r.task.movedCount } : r;
};

export const MOVE_TASK_ACTIONS: Readonly<Record<string, SqsAction>> = {
  StartMessageMoveTask: startMessageMoveTask,
  ListMessageMoveTasks: listMessageMoveTasks,
  CancelMessageMoveTask: cancelMessageMoveTask,
};
