// A QueueService that records every call and answers from overridable scripts: the fake the API
// tests drive handleCmqRequest with ("did any invalid request reach submit?"). No queue semantics.

import type {
  Command,
  CommandResult,
  MoveTaskView,
  QueueAttributes,
  QueueAttributesInput,
  QueueList,
  SubscriptionAttributes,
  SubscriptionList,
  TopicAttributes,
  TopicList,
} from '../../src/broker/commands';
import type { EncodedCommand } from '../../src/broker/codec';
import type { ServiceCall } from '../../src/node/call-codec';
import { fail, type ErrorResult } from '../../src/protocol/errors';
import { SQS_QUEUE_DEFAULTS } from '../../src/protocol/queue-types';
import type { ClusterStatusView, DeliveredMessage, MembershipChange, QueueService, ReceiveOutcome, ServiceResult } from '../../src/service/queue-service';
import type { RequestContext } from '../../src/service/request-context';

/** A call as the service received it: the same shape as a service call between members. */
export type RecordedCall = ServiceCall;

export interface RecordingScripts {
  submit?: (command: Command) => CommandResult | Promise<CommandResult>;
  receive?: (queueName: string, numOfMsg: number, waitSeconds: number | undefined) => ReceiveOutcome | Promise<ReceiveOutcome>;
  listQueues?: (searchWord: string | undefined, offset: number, limit: number) => QueueList | ErrorResult | Promise<QueueList | ErrorResult>;
  getQueueAttributes?: (queueName: string) => QueueAttributes | undefined | Promise<QueueAttributes | undefined>;
  listDeadLetterSourceQueues?: (
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ) => QueueList | ErrorResult | Promise<QueueList | ErrorResult>;
  listTopics?: (searchWord: string | undefined, offset: number, limit: number) => TopicList | ErrorResult | Promise<TopicList | ErrorResult>;
  getTopicAttributes?: (topicName: string) => TopicAttributes | undefined | Promise<TopicAttributes | undefined>;
  listSubscriptions?: (
    topicName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ) => SubscriptionList | ErrorResult | Promise<SubscriptionList | ErrorResult>;
  getSubscriptionAttributes?: (
    topicName: string,
    subscriptionName: string,
  ) => SubscriptionAttributes | ErrorResult | Promise<SubscriptionAttributes | ErrorResult>;
  listMoveTasks?: (sourceQueue: string) => MoveTaskView[] | ErrorResult | Promise<MoveTaskView[] | ErrorResult>;
}

/** Attributes of a freshly created filterType 1 topic. */
export function sampleTopicAttributes(topicName: string, nowSec = 1_700_000_000): TopicAttributes {
  return {
    topicId: `topic-${topicName.toLowerCase()}`,
    topicName,
    msgCount: 0,
    maxMsgSize: 65_536,
    msgRetentionSeconds: 86_400,
    filterType: 1,
    createTime: nowSec,
    lastModifyTime: nowSec,
  };
}

/** Attributes of a queue subscription without filters. */
export function sampleSubscriptionAttributes(topicName: string, subscriptionName: string, nowSec = 1_700_000_000): SubscriptionAttributes {
  return {
    subscriptionId: `subsc-${subscriptionName.toLowerCase()}`,
    subscriptionName,
    topicName,
    protocol: 'queue',
    endpoint: 'target-queue',
    notifyStrategy: 'EXPONENTIAL_DECAY_RETRY',
    notifyContentFormat: 'SIMPLIFIED',
    filterTags: [],
    bindingKeys: [],
    msgCount: 0,
    createTime: nowSec,
    lastModifyTime: nowSec,
  };
}

/** Attributes of a freshly created queue with the documented defaults. */
export function sampleQueueAttributes(queueName: string, nowSec = 1_700_000_000): QueueAttributes {
  return {
    queueId: `queue-${queueName.toLowerCase()}`,
    queueName,
    maxMsgHeapNum: 100_000_000,
    pollingWaitSeconds: 0,
    visibilityTimeout: 30,
    maxMsgSize: 65_536,
    msgRetentionSeconds: 345_600,
    rewindSeconds: 0,
    createTime: nowSec,
    lastModifyTime: nowSec,
    activeMsgNum: 0,
    inactiveMsgNum: 0,
    delayMsgNum: 0,
    rewindMsgNum: 0,
    minMsgTime: 0,
    sqs: { ...SQS_QUEUE_DEFAULTS },
    tags: {},
  };
}

/** A delivered message with the given body, for scripted receives. */
export function sampleDeliveredMessage(body: string | Buffer, seq = 1, nowSec = 1_700_000_000): DeliveredMessage {
  const bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return {
    msgId: String(1000 + seq),
    receiptHandle: `1-${seq}-1-abcdef`,
    enqueueTime: nowSec - 5,
    firstDequeueTime: nowSec,
    nextVisibleTime: nowSec + 30,
    dequeueCount: 1,
    enqueueMs: (nowSec - 5) * 1000,
    firstDequeueMs: nowSec * 1000,
    enveloped: false,
    sequenceNumber: String(1000 + seq).padStart(20, '0'),
    body: { entryIndex: seq, offset: 0, length: bodyBytes.length, crc32c: 0 },
    queueNumber: 1,
    seq,
    bodyBytes,
  };
}

function defaultSubmit(command: Command, nextMsgId: () => string): CommandResult {
  switch (command.kind) {
    case 'createQueue':
      return { ok: true, kind: 'createQueue', queueId: `queue-${command.queueName.toLowerCase()}` };
    case 'setQueueAttributes':
      return { ok: true, kind: 'setQueueAttributes', attributes: { ...sampleQueueAttributes(command.queueName), ...withoutDlp(command.attrs) } };
    case 'deleteQueue':
      return { ok: true, kind: 'deleteQueue' };
    case 'sendMessages': {
      const msgIds = command.bodies.map(nextMsgId);
      return { ok: true, kind: 'sendMessages', msgIds, sequenceNumbers: msgIds.map((id) => id.padStart(20, '0')) };
    }
    case 'receiveMessages':
      return { ok: true, kind: 'receiveMessages', messages: [] };
    case 'deleteMessages':
      return { ok: true, kind: 'deleteMessages', failures: [] };
    case 'rewindQueue':
      return { ok: true, kind: 'rewindQueue' };
    case 'changeVisibility':
      return { ok: true, kind: 'changeVisibility', failures: [] };
    case 'purgeQueue':
      return { ok: true, kind: 'purgeQueue', purged: 0 };
    case 'tagQueue':
    case 'untagQueue':
      return { ok: true, kind: command.kind };
    case 'unbindDeadLetter':
      return { ok: true, kind: 'unbindDeadLetter' };
    case 'quarantineMessage':
      return { ok: true, kind: 'quarantineMessage' };
    case 'tick':
      return { ok: true, kind: 'tick' };
    case 'relocateBodies':
      return { ok: true, kind: 'relocateBodies', relocated: 0, bytes: 0 };
    case 'createTopic':
      return { ok: true, kind: 'createTopic', topicId: `topic-${command.topicName.toLowerCase()}` };
    case 'setTopicAttributes':
    case 'deleteTopic':
    case 'unsubscribe':
    case 'setSubscriptionAttributes':
    case 'clearSubscriptionFilterTags':
      return { ok: true, kind: command.kind };
    case 'subscribe':
      return { ok: true, kind: 'subscribe', subscriptionId: `subsc-${command.subscriptionName.toLowerCase()}` };
    case 'publishMessages':
      return { ok: true, kind: 'publishMessages', msgIds: command.bodies.map(nextMsgId), deliveredQueues: [], pushes: 0 };
    case 'pushSucceeded':
      return { ok: true, kind: 'pushSucceeded', found: true };
    case 'pushFailed':
      return { ok: true, kind: 'pushFailed', outcome: 'unknown' };
    case 'deadLetterSent':
      return { ok: true, kind: 'deadLetterSent', found: false };
    case 'deadLetterFailed':
      return { ok: true, kind: 'deadLetterFailed', outcome: 'unknown' };
    case 'moveMessages':
      return { ok: true, kind: 'moveMessages', moved: 0, remaining: 0, stayed: 0 };
    case 'startMoveTask':
    case 'cancelMoveTask': {
      const task: MoveTaskView = {
        taskHandle: command.kind === 'cancelMoveTask' ? command.taskHandle : 'move-1',
        sourceQueue: command.kind === 'cancelMoveTask' ? 'q' : command.sourceQueue,
        destinationQueue: null,
        maxPerSecond: null,
        status: command.kind === 'cancelMoveTask' ? 'CANCELLED' : 'RUNNING',
        startedMs: 0,
        movedCount: 0,
        toMove: 0,
      };
      return command.kind === 'startMoveTask' ? { ok: true, kind: 'startMoveTask', taskHandle: task.taskHandle, task } : { ok: true, kind: 'cancelMoveTask', task };
    }
  }
}

/** The attribute input as stored attributes: a null (cleared) policy is simply absent. */
function withoutDlp(attrs: QueueAttributesInput): Partial<QueueAttributes> {
  const { deadLetterPolicy, sqs: _sqs, tags: _tags, ...rest } = attrs;
  return deadLetterPolicy ? { ...rest, deadLetterPolicy } : rest;
}

/** A scripted list or attributes read as a service result. */
function okList<T extends object>(r: T | ErrorResult): ServiceResult<T> {
  return 'ok' in r ? r : { ok: true, ...r };
}

export class RecordingQueueService implements QueueService {
  readonly calls: RecordedCall[] = [];
  /** The context of each call, in the order of `calls` (kept apart so call records stay simple). */
  readonly contexts: RequestContext[] = [];
  private msgSeq = 0;

  constructor(public scripts: RecordingScripts = {}) {}

  /** The commands passed to submit, in order. */
  get submitted(): Command[] {
    const out: Command[] = [];
    for (const c of this.calls) if (c.method === 'submit') out.push(c.command);
    return out;
  }

  private record(ctx: RequestContext, call: RecordedCall): void {
    this.calls.push(call);
    this.contexts.push(ctx);
  }

  async submit(ctx: RequestContext, command: Command): Promise<CommandResult> {
    this.record(ctx, { method: 'submit', command });
    if (this.scripts.submit) return this.scripts.submit(command);
    return defaultSubmit(command, () => String(++this.msgSeq));
  }

  /** Submits that came already encoded (a follower's service calls on a leader). */
  encodedSubmits = 0;

  submitEncoded(ctx: RequestContext, command: Command, _encoded: EncodedCommand): Promise<CommandResult> {
    this.encodedSubmits++;
    return this.submit(ctx, command);
  }

  async receive(ctx: RequestContext, queueName: string, numOfMsg: number, waitSeconds: number | undefined): Promise<ReceiveOutcome> {
    this.record(ctx, { method: 'receive', queueName, numOfMsg, waitSeconds });
    if (this.scripts.receive) return this.scripts.receive(queueName, numOfMsg, waitSeconds);
    return { ok: true, messages: [] };
  }

  async listQueues(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    this.record(ctx, { method: 'listQueues', searchWord, offset, limit });
    if (this.scripts.listQueues) return okList(await this.scripts.listQueues(searchWord, offset, limit));
    return { ok: true, totalCount: 0, queueList: [] };
  }

  async getQueueAttributes(ctx: RequestContext, queueName: string): Promise<ServiceResult<{ attributes: QueueAttributes }>> {
    this.record(ctx, { method: 'getQueueAttributes', queueName });
    const attributes = this.scripts.getQueueAttributes ? await this.scripts.getQueueAttributes(queueName) : sampleQueueAttributes(queueName);
    return attributes ? { ok: true, attributes } : fail('queueNotExist');
  }

  changeMembership(ctx: RequestContext, change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    this.record(ctx, { method: 'changeMembership', change });
    const voters = change.type === 'add' ? ['n1', change.nodeId] : ['n1'];
    return Promise.resolve({ ok: true, voters });
  }

  transferLeader(ctx: RequestContext, nodeId: string): Promise<ServiceResult<{ from: string; to: string }>> {
    this.record(ctx, { method: 'transferLeader', nodeId });
    return Promise.resolve({ ok: true, from: 'n1', to: nodeId });
  }

  clusterStatus(_ctx: RequestContext): Promise<ServiceResult<{ status: ClusterStatusView }>> {
    const status: ClusterStatusView = { nodeId: 'n1', role: 'leader', term: 1, leader: 'n1', commitIndex: 0, appliedIndex: 0, lastIndex: 0, voters: ['n1'], peers: [] };
    return Promise.resolve({ ok: true, status });
  }

  async listDeadLetterSourceQueues(
    ctx: RequestContext,
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ): Promise<ServiceResult<QueueList>> {
    this.record(ctx, { method: 'listDeadLetterSourceQueues', deadLetterQueueName, searchWord, offset, limit });
    if (this.scripts.listDeadLetterSourceQueues) return okList(await this.scripts.listDeadLetterSourceQueues(deadLetterQueueName, searchWord, offset, limit));
    return { ok: true, totalCount: 0, queueList: [] };
  }

  async listMoveTasks(ctx: RequestContext, sourceQueue: string): Promise<ServiceResult<{ tasks: MoveTaskView[] }>> {
    this.record(ctx, { method: 'listMoveTasks', sourceQueue });
    if (!this.scripts.listMoveTasks) return { ok: true, tasks: [] };
    const tasks = await this.scripts.listMoveTasks(sourceQueue);
    return Array.isArray(tasks) ? { ok: true, tasks } : tasks;
  }

  async listTopics(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>> {
    this.record(ctx, { method: 'listTopics', searchWord, offset, limit });
    if (this.scripts.listTopics) return okList(await this.scripts.listTopics(searchWord, offset, limit));
    return { ok: true, totalCount: 0, topicList: [] };
  }

  async getTopicAttributes(ctx: RequestContext, topicName: string): Promise<ServiceResult<{ attributes: TopicAttributes }>> {
    this.record(ctx, { method: 'getTopicAttributes', topicName });
    const attributes = this.scripts.getTopicAttributes ? await this.scripts.getTopicAttributes(topicName) : sampleTopicAttributes(topicName);
    return attributes ? { ok: true, attributes } : fail('topicNotExist');
  }

  async listSubscriptions(
    ctx: RequestContext,
    topicName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ): Promise<ServiceResult<SubscriptionList>> {
    this.record(ctx, { method: 'listSubscriptions', topicName, searchWord, offset, limit });
    if (this.scripts.listSubscriptions) return okList(await this.scripts.listSubscriptions(topicName, searchWord, offset, limit));
    return { ok: true, totalCount: 0, subscriptionList: [] };
  }

  async getSubscriptionAttributes(ctx: RequestContext, topicName: string, subscriptionName: string): Promise<ServiceResult<{ attributes: SubscriptionAttributes }>> {
    this.record(ctx, { method: 'getSubscriptionAttributes', topicName, subscriptionName });
    const r = this.scripts.getSubscriptionAttributes
      ? await this.scripts.getSubscriptionAttributes(topicName, subscriptionName)
      : sampleSubscriptionAttributes(topicName, subscriptionName);
    return 'ok' in r ? r : { ok: true, attributes: r };
  }
}
