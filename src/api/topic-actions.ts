// Handlers of the topic and subscription actions (spec §3.3): validate (./topic-validation), call
// the QueueService, shape the result with the field names and types the SDKs read. Writes go
// through `submit`; reads through the service's linearizable queries. The http push outcomes
// (pushSucceeded / pushFailed) are proposed by the node's push loop, never by a client request.

import type { SubscriptionAttributes, TopicAttributes } from '../broker/commands';
import { fail, type ErrorResult } from '../protocol/errors';
import type { ActionEnv, ActionHandler } from './actions';
import { isError } from './params';
import { submit } from './queue-actions';
import { listParams } from './queue-validation';
import { success, type ResponseFields } from './response';
import {
  batchPublishMessageParams,
  createTopicParams,
  listSubscriptionParams,
  publishMessageParams,
  setSubscriptionParams,
  subscribeParams,
  subscriptionRefParams,
  topicMaxMsgSizeParam,
  topicNameParam,
  type PublishParams,
} from './topic-validation';

/**
 * Account fields CMQ reports that have no meaning on a self-hosted server (spec §3.1, §3.3):
 * one implicit owner, no QPS throttling (5000 is the documented example value), no resource tags.
 */
export const TOPIC_OWNER = '0';
export const CREATE_UIN = 0;
export const TOPIC_QPS = 5000;

/** GetTopicAttributes (spec §3.3): the six integers Java reads with getInt, then the rest. */
export function topicAttributesFields(a: TopicAttributes): ResponseFields {
  return {
    msgCount: a.msgCount,
    maxMsgSize: a.maxMsgSize,
    msgRetentionSeconds: a.msgRetentionSeconds,
    createTime: a.createTime,
    lastModifyTime: a.lastModifyTime,
    filterType: a.filterType,
    topicId: a.topicId,
    topicName: a.topicName,
    createUin: CREATE_UIN,
    qps: TOPIC_QPS,
    tags: [],
  };
}

/**
 * GetSubscriptionAttributes (spec §3.3): `protocol` plus Python's `protocal`, and the filter tags
 * as both `filterTag` (Java) and `filterTags` (Python).
 */
export function subscriptionAttributesFields(a: SubscriptionAttributes): ResponseFields {
  return {
    topicOwner: TOPIC_OWNER,
    msgCount: a.msgCount,
    protocol: a.protocol,
    protocal: a.protocol,
    endpoint: a.endpoint,
    notifyStrategy: a.notifyStrategy,
    notifyContentFormat: a.notifyContentFormat,
    createTime: a.createTime,
    lastModifyTime: a.lastModifyTime,
    bindingKey: [...a.bindingKeys],
    filterTag: [...a.filterTags],
    filterTags: [...a.filterTags],
    subscriptionId: a.subscriptionId,
    subscriptionName: a.subscriptionName,
    topicName: a.topicName,
  };
}

const createTopic: ActionHandler = async (env, p) => {
  const cmd = createTopicParams(p);
  if (isError(cmd)) return cmd;
  const r = await submit(env, cmd);
  return r.ok ? success({ topicId: r.topicId }) : r;
};

/** maxMsgSize is the only settable attribute; a request without it changes nothing. */
const setTopicAttributes: ActionHandler = async (env, p) => {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const maxMsgSize = topicMaxMsgSizeParam(p);
  if (isError(maxMsgSize)) return maxMsgSize;
  if (maxMsgSize === undefined) {
    const a = await env.service.getTopicAttributes(env.ctx, topicName);
    return a.ok ? success() : a;
  }
  const r = await submit(env, { kind: 'setTopicAttributes', topicName, maxMsgSize });
  return r.ok ? success() : r;
};

const listTopic: ActionHandler = async ({ service, ctx }, p) => {
  const l = listParams(p);
  if (isError(l)) return l;
  const r = await service.listTopics(ctx, l.searchWord, l.offset, l.limit);
  if (!r.ok) return r;
  return success({ totalCount: r.totalCount, topicList: r.topicList.map((t) => ({ topicId: t.topicId, topicName: t.topicName })) });
};

const getTopicAttributes: ActionHandler = async ({ service, ctx }, p) => {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const a = await service.getTopicAttributes(ctx, topicName);
  return a.ok ? success(topicAttributesFields(a.attributes)) : a;
};

const deleteTopic: ActionHandler = async (env, p) => {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const r = await submit(env, { kind: 'deleteTopic', topicName });
  return r.ok ? success() : r;
};

async function publish(env: ActionEnv, m: PublishParams): Promise<string[] | ErrorResult> {
  const r = await submit(env, { kind: 'publishMessages', ...m });
  if (!r.ok) return r;
  if (r.msgIds.length !== m.bodies.length) {
    return fail('internalError', undefined, `(${r.msgIds.length} msgIds for ${m.bodies.length} messages)`);
  }
  return r.msgIds;
}

const publishMessage: ActionHandler = async (env, p) => {
  const m = publishMessageParams(p);
  if (isError(m)) return m;
  const ids = await publish(env, m);
  return isError(ids) ? ids : success({ msgId: ids[0] });
};

const batchPublishMessage: ActionHandler = async (env, p) => {
  const m = batchPublishMessageParams(p);
  if (isError(m)) return m;
  const ids = await publish(env, m);
  return isError(ids) ? ids : success({ msgList: ids.map((msgId) => ({ msgId })) });
};

const subscribe: ActionHandler = async (env, p) => {
  const cmd = subscribeParams(p);
  if (isError(cmd)) return cmd;
  const r = await submit(env, cmd);
  return r.ok ? success({ subscriptionId: r.subscriptionId }) : r;
};

const listSubscriptionByTopic: ActionHandler = async ({ service, ctx, compat }, p) => {
  const l = listSubscriptionParams(p);
  if (isError(l)) return l;
  const r = await service.listSubscriptions(ctx, l.topicName, l.searchWord, l.offset, l.limit);
  if (!r.ok) {
    if (r.error === 'topicNotExist' && compat?.emptySubscriptionListForMissingTopic) return success({ totalCount: 0, subscriptionList: [] });
    return r;
  }
  return success({
    totalCount: r.totalCount,
    subscriptionList: r.subscriptionList.map((s) => ({
      subscriptionId: s.subscriptionId,
      subscriptionName: s.subscriptionName,
      protocol: s.protocol,
      endpoint: s.endpoint,
    })),
  });
};

const setSubscriptionAttributes: ActionHandler = async (env, p) => {
  const cmd = setSubscriptionParams(p);
  if (isError(cmd)) return cmd;
  const r = await submit(env, cmd);
  return r.ok ? success() : r;
};

const getSubscriptionAttributes: ActionHandler = async ({ service, ctx }, p) => {
  const ref = subscriptionRefParams(p);
  if (isError(ref)) return ref;
  const r = await service.getSubscriptionAttributes(ctx, ref.topicName, ref.subscriptionName);
  return r.ok ? success(subscriptionAttributesFields(r.attributes)) : r;
};

const unsubscribe: ActionHandler = async (env, p) => {
  const ref = subscriptionRefParams(p);
  if (isError(ref)) return ref;
  const r = await submit(env, { kind: 'unsubscribe', ...ref });
  return r.ok ? success() : r;
};

const clearSubscriptionFilterTags: ActionHandler = async (env, p) => {
  const ref = subscriptionRefParams(p);
  if (isError(ref)) return ref;
  const r = await submit(env, { kind: 'clearSubscriptionFilterTags', ...ref });
  return r.ok ? success() : r;
};

/** The topic twin of QueryQueueRoute (spec §2.3 [rec]): an empty addr list, or 4440 for a missing topic. */
const queryTopicRoute: ActionHandler = async ({ service, ctx }, p) => {
  const topicName = topicNameParam(p);
  if (isError(topicName)) return topicName;
  const a = await service.getTopicAttributes(ctx, topicName);
  return a.ok ? success({ addr: [] }) : a;
};

/**
 * Canonical action name -> handler, matched case-insensitively by ./actions, which is how Java's
 * misspelt `ClearSUbscriptionFIlterTags` (spec §1.2) reaches clearSubscriptionFilterTags.
 */
export const TOPIC_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  CreateTopic: createTopic,
  SetTopicAttributes: setTopicAttributes,
  ListTopic: listTopic,
  GetTopicAttributes: getTopicAttributes,
  DeleteTopic: deleteTopic,
  PublishMessage: publishMessage,
  BatchPublishMessage: batchPublishMessage,
  Subscribe: subscribe,
  ListSubscriptionByTopic: listSubscriptionByTopic,
  SetSubscriptionAttributes: setSubscriptionAttributes,
  GetSubscriptionAttributes: getSubscriptionAttributes,
  Unsubscribe: unsubscribe,
  ClearSubscriptionFilterTags: clearSubscriptionFilterTags,
  QueryTopicRoute: queryTopicRoute,
};
