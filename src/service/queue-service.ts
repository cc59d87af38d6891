// The protocol-neutral queue service: what a client protocol (the CMQ API today) needs from a node.
// node/ implements it over the log and the state machine; tests may implement it directly. Every
// call takes the request's context first; every call answers with a result, never by throwing for
// a failure it expects: `{ ok: true, ... }` or a ServiceError whose kind says whether a retry is
// safe (protocol/errors.ts). Writes go through `submit` (logged, then applied); reads see every
// write that was acknowledged before they started.

import type {
  Command,
  CommandResult,
  MoveTaskView,
  QueueAttributes,
  QueueList,
  ReceivedMessage,
  SubscriptionAttributes,
  SubscriptionList,
  TopicAttributes,
  TopicList,
} from '../broker/commands';
import type { ClusterNodeStatus } from '../protocol/cluster-types';
import type { ErrorResult } from '../protocol/errors';
import type { RequestContext } from './request-context';

/** A failure as the service reports it: an error name (whose kind says what to do) and detail. */
export type ServiceError = ErrorResult;

/** Success with its fields, or a ServiceError: the one shape of every service answer. */
export type ServiceResult<T extends object> = ({ ok: true } & T) | ServiceError;

export interface DeliveredMessage extends ReceivedMessage {
  /** The body, read back from the log and checked against its CRC32C. */
  bodyBytes: Buffer;
}

/** One node's view of its Raft set (see protocol/cluster-types.ts). */
export type ClusterStatusView = ClusterNodeStatus;

/** Which sources listDeadLetterSourceQueues lists (absent: those of a dead-letter queue held here). */
export interface DeadLetterSourceScope {
  remoteOnly?: boolean;
}

export interface ReceiveOptions {
  /** How long the received messages stay invisible (0-43200 s); absent: the queue's visibilityTimeout. */
  visibilitySeconds?: number;
  /**
   * SQS ReceiveRequestAttemptId (FIFO queues; a standard queue ignores it): a retry with the same
   * id gets the same messages while they are untouched (broker/receive-attempts.ts).
   */
  attemptId?: string;
}

export type ReceiveOutcome = ServiceResult<{ messages: DeliveredMessage[] }>;

export type MembershipChange = { type: 'add'; nodeId: string; address: string } | { type: 'remove'; nodeId: string };

export interface QueueService {
  /** Log a state change and return its result once it is durable and applied. */
  submit(ctx: RequestContext, command: Command): Promise<CommandResult>;
  /**
   * Receive up to numOfMsg messages, waiting up to waitSeconds (the queue's pollingWaitSeconds
   * when undefined) for one to become visible. An empty list means the wait ran out.
   */
  receive(ctx: RequestContext, queueName: string, numOfMsg: number, waitSeconds: number | undefined, options?: ReceiveOptions): Promise<ReceiveOutcome>;
  listQueues(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>>;
  /** queueNotExist when the queue does not exist. */
  getQueueAttributes(ctx: RequestContext, queueName: string): Promise<ServiceResult<{ attributes: QueueAttributes }>>;
  /**
   * queueNotExist when the dead letter queue does not exist. With `scope.remoteOnly` (the access
   * layer asking a set that does not hold the dead-letter queue): only the queues of this set whose
   * dead-letter queue is that one on another set, and no such check.
   */
  listDeadLetterSourceQueues(
    ctx: RequestContext,
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
    scope?: DeadLetterSourceScope,
  ): Promise<ServiceResult<QueueList>>;
  listTopics(ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>>;
  /** topicNotExist when the topic does not exist. */
  getTopicAttributes(ctx: RequestContext, topicName: string): Promise<ServiceResult<{ attributes: TopicAttributes }>>;
  /** topicNotExist when the topic does not exist. */
  listSubscriptions(
    ctx: RequestContext,
    topicName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ): Promise<ServiceResult<SubscriptionList>>;
  /** topicNotExist or subscriptionNotExist when either is missing. */
  getSubscriptionAttributes(ctx: RequestContext, topicName: string, subscriptionName: string): Promise<ServiceResult<{ attributes: SubscriptionAttributes }>>;
  /** The source queue's message move tasks, most recent first; queueNotExist when it does not exist. */
  listMoveTasks(ctx: RequestContext, sourceQueue: string): Promise<ServiceResult<{ tasks: MoveTaskView[] }>>;
  /** This node's Raft state (answered by the node asked, never forwarded). */
  clusterStatus(ctx: RequestContext): Promise<ServiceResult<{ status: ClusterStatusView }>>;
  /** Hand leadership to `nodeId` (on the leader; followers forward it like any write). */
  transferLeader(ctx: RequestContext, nodeId: string): Promise<ServiceResult<{ from: string; to: string }>>;
  /**
   * Add a voter (reachable by its peers at `address`, "host:port") or remove one; on the leader,
   * answered once the change is committed, with the voters it produced.
   */
  changeMembership(ctx: RequestContext, change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>>;
  /**
   * Starts moving a queue, with its messages, to set `toSet` (node/queue-move.ts); for a queue of
   * several shards, the shard on set `fromSet` (required for one; the target must hold no shard of
   * it). Served by the cluster access layer only; a node without a cluster controller has no other
   * set. Answers once the move is recorded and the queue exists on the target; the source set's
   * leader then drains it. Repeating it while that move runs answers the same.
   */
  moveQueue?(ctx: RequestContext, queueName: string, toSet: number, fromSet?: number): Promise<ServiceResult<{ move: QueueMoveView }>>;
}

/** A move of a queue to another set, as the controller has it; `done`: the queue is on `to` (from = to). */
export interface QueueMoveView {
  from: number;
  to: number;
  phase: 'copying' | 'cutover' | 'done';
  /** Messages still on the source (visible, in flight, delayed); 0 once done. */
  sourceMessages: number;
}
