// Handlers of the queue actions (spec §2.3): validate (./queue-validation), call the QueueService,
// shape the result (./response). Writes go through `submit`; reads through the service's queries.

import type { Command, CommandOk, CommandResult, DeleteFailure } from '../broker/commands';
import { CMQ_CODES, errorMessage } from '../protocol/cmq-codes';
import { fail, type ErrorResult } from '../protocol/errors';
import type { ActionEnv, ActionHandler } from './actions';
import type { FormParams } from './form';
import { isError } from './params';
import {
  batchDeleteMessageParams,
  batchSendMessageParams,
  bodyDedupIds,
  deleteMessageParams,
  listParams,
  queueAttributesParams,
  queueNameParam,
  receiveMessageParams,
  rewindQueueParams,
  sendMessageParams,
  shardsParam,
  type SendParams,
} from './queue-validation';
import { queueAttributesFields, receivedMessageFields, success, type ActionOutcome } from './response';

/** Narrow a submit result to the kind the command asked for; anything else is a server bug. */
export async function submit<K extends Command['kind']>(
  { service, ctx }: ActionEnv,
  command: Command & { kind: K },
): Promise<Extract<CommandOk, { kind: K }> | ErrorResult> {
  const r: CommandResult = await service.submit(ctx, command);
  if (!r.ok) return r;
  if (r.kind !== command.kind) {
    return fail('internalError', undefined, `(result kind ${r.kind} for command ${command.kind})`);
  }
  return r as Extract<CommandOk, { kind: K }>;
}

const createQueue: ActionHandler = async (env, p) => {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const attrs = queueAttributesParams(p, true);
  if (isError(attrs)) return attrs;
  const shards = shardsParam(p);
  if (isError(shards)) return shards;
  const r = await submit(env, { kind: 'createQueue', queueName, attrs, ...(shards !== undefined ? { shards } : {}) });
  return r.ok ? success({ queueId: r.queueId }) : r;
};

const listQueue: ActionHandler = async ({ service, ctx }, p) => {
  const l = listParams(p);
  if (isError(l)) return l;
  const r = await service.listQueues(ctx, l.searchWord, l.offset, l.limit);
  if (!r.ok) return r;
  return success({ totalCount: r.totalCount, queueList: r.queueList.map((q) => ({ queueId: q.queueId, queueName: q.queueName })) });
};

const getQueueAttributes: ActionHandler = async ({ service, ctx }, p) => {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const a = await service.getQueueAttributes(ctx, queueName);
  return a.ok ? success(queueAttributesFields(a.attributes)) : a;
};

const setQueueAttributes: ActionHandler = async (env, p) => {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const attrs = queueAttributesParams(p, false);
  if (isError(attrs)) return attrs;
  const shards = shardsParam(p);
  if (isError(shards)) return shards;
  const r = await submit(env, { kind: 'setQueueAttributes', queueName, attrs, ...(shards !== undefined ? { shards } : {}) });
  return r.ok ? success(queueAttributesFields(r.attributes)) : r;
};

const deleteQueue: ActionHandler = async (env, p) => {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const r = await submit(env, { kind: 'deleteQueue', queueName });
  return r.ok ? success() : r;
};

async function sendMessages(env: ActionEnv, s: SendParams): Promise<string[] | ErrorResult> {
  const command: Command = { kind: 'sendMessages', queueName: s.queueName, delaySeconds: s.delaySeconds, bodies: s.bodies };
  if (s.dedupId !== undefined) command.options = bodyDedupIds(s.dedupId, s.bodies.length).map((dedupId) => ({ dedupId }));
  const r = await submit(env, command);
  if (!r.ok) return r;
  if (r.msgIds.length !== s.bodies.length) {
    return fail('internalError', undefined, `(${r.msgIds.length} msgIds for ${s.bodies.length} messages)`);
  }
  return r.msgIds;
}

const sendMessage: ActionHandler = async (env, p) => {
  const s = sendMessageParams(p);
  if (isError(s)) return s;
  const ids = await sendMessages(env, s);
  return isError(ids) ? ids : success({ msgId: ids[0] });
};

const batchSendMessage: ActionHandler = async (env, p) => {
  const s = batchSendMessageParams(p);
  if (isError(s)) return s;
  const ids = await sendMessages(env, s);
  return isError(ids) ? ids : success({ msgList: ids.map((msgId) => ({ msgId })) });
};

async function receive({ service, ctx }: ActionEnv, p: FormParams, batch: boolean): Promise<ActionOutcome> {
  const r = receiveMessageParams(p, batch);
  if (isError(r)) return r;
  const out = await service.receive(ctx, r.queueName, r.numOfMsg, r.waitSeconds);
  if (!out.ok) return out;
  const first = out.messages[0];
  if (first === undefined) return fail('noMessage');
  if (!batch) return success(receivedMessageFields(first));
  return success({ msgInfoList: out.messages.slice(0, r.numOfMsg).map(receivedMessageFields) });
}

const receiveMessage: ActionHandler = (env, p) => receive(env, p, false);
const batchReceiveMessage: ActionHandler = (env, p) => receive(env, p, true);

const deleteMessage: ActionHandler = async (env, p) => {
  const d = deleteMessageParams(p);
  if (isError(d)) return d;
  const r = await submit(env, { kind: 'deleteMessages', queueName: d.queueName, receiptHandles: d.receiptHandles });
  if (!r.ok) return r;
  return r.failures.length === 0 ? success() : fail('receiptHandleInvalid');
};

/** One errorList item of BatchDeleteMessage (spec §2.3). */
function deleteFailureItem(f: DeleteFailure): Record<string, unknown> {
  return { code: CMQ_CODES[f.error].code, message: errorMessage(f.error), receiptHandle: f.receiptHandle };
}

const batchDeleteMessage: ActionHandler = async (env, p) => {
  const d = batchDeleteMessageParams(p);
  if (isError(d)) return d;
  const r = await submit(env, { kind: 'deleteMessages', queueName: d.queueName, receiptHandles: d.receiptHandles });
  if (!r.ok) return r;
  if (r.failures.length === 0) return success();
  const errorList = r.failures.map(deleteFailureItem);
  const error = r.failures.length >= d.receiptHandles.length ? 'deleteAllFailed' : 'deletePartial';
  return { ...fail(error), fields: { errorList } };
};

const rewindQueue: ActionHandler = async (env, p) => {
  const rq = rewindQueueParams(p);
  if (isError(rq)) return rq;
  const r = await submit(env, { kind: 'rewindQueue', ...rq });
  return r.ok ? success() : r;
};

const unbindDeadLetterQueue: ActionHandler = async (env, p) => {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const r = await submit(env, { kind: 'unbindDeadLetter', queueName });
  return r.ok ? success() : r;
};

const listDeadLetterSourceQueues: ActionHandler = async ({ service, ctx }, p) => {
  const dlq = queueNameParam(p, 'deadLetterQueueName');
  if (isError(dlq)) return dlq;
  const l = listParams(p);
  if (isError(l)) return l;
  const r = await service.listDeadLetterSourceQueues(ctx, dlq, l.searchWord, l.offset, l.limit);
  if (!r.ok) return r;
  return success({ totalCount: r.totalCount, queueList: r.queueList.map((q) => ({ queueId: q.queueId, queueName: q.queueName })) });
};

/**
 * TDMQ data-flow route query (spec §2.3 [rec]): no TCP gateway here, so an empty list; a queue
 * that does not exist is 4440, as every other read says, not a route to nowhere.
 */
const queryQueueRoute: ActionHandler = async ({ service, ctx }, p) => {
  const queueName = queueNameParam(p);
  if (isError(queueName)) return queueName;
  const a = await service.getQueueAttributes(ctx, queueName);
  return a.ok ? success({ addr: [] }) : a;
};

/** Canonical action name -> handler. Matched case-insensitively by ./actions. */
export const QUEUE_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  CreateQueue: createQueue,
  ListQueue: listQueue,
  GetQueueAttributes: getQueueAttributes,
  SetQueueAttributes: setQueueAttributes,
  DeleteQueue: deleteQueue,
  SendMessage: sendMessage,
  BatchSendMessage: batchSendMessage,
  ReceiveMessage: receiveMessage,
  BatchReceiveMessage: batchReceiveMessage,
  DeleteMessage: deleteMessage,
  BatchDeleteMessage: batchDeleteMessage,
  RewindQueue: rewindQueue,
  UnbindDeadLetterQueue: unbindDeadLetterQueue,
  UnbindDeadLetter: unbindDeadLetterQueue,
  ListDeadLetterSourceQueues: listDeadLetterSourceQueues,
  QueryQueueRoute: queryQueueRoute,
};
