// What the HTTP layer needs from a node. node/ implements it over the log and the state machine;
// tests may implement it directly. Writes go through `submit` (logged, then applied); reads see
// every write that was acknowledged before they started.

import type {
  Command,
  CommandResult,
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

export interface DeliveredMessage extends ReceivedMessage {
  /** The body, read back from the log and checked against its CRC32C. */
  bodyBytes: Buffer;
}

/** One node's view of its Raft set (see protocol/cluster-types.ts). */
export type ClusterStatusView = ClusterNodeStatus;

export type ReceiveOutcome = { ok: true; messages: DeliveredMessage[] } | ErrorResult;

export interface QueueService {
  /** Log a state change and return its result once it is durable and applied. */
  submit(command: Command): Promise<CommandResult>;
  /**
   * Receive up to numOfMsg messages, waiting up to waitSeconds (the queue's pollingWaitSeconds
   * when undefined) for one to become visible. An empty list means the wait ran out (7000).
   */
  receive(queueName: string, numOfMsg: number, waitSeconds: number | undefined): Promise<ReceiveOutcome>;
  listQueues(searchWord: string | undefined, offset: number, limit: number): Promise<QueueList>;
  getQueueAttributes(queueName: string): Promise<QueueAttributes | undefined>;
  listDeadLetterSourceQueues(
    deadLetterQueueName: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
  ): Promise<QueueList | ErrorResult>;
  listTopics(searchWord: string | undefined, offset: number, limit: number): Promise<TopicList>;
  /** undefined when the topic does not exist. */
  getTopicAttributes(topicName: string): Promise<TopicAttributes | undefined>;
  /** 4440/10600 when the topic does not exist. */
  listSubscriptions(topicName: string, searchWord: string | undefined, offset: number, limit: number): Promise<SubscriptionList | ErrorResult>;
  /** 4440/10600 (topic) or 4440/10560 (subscription) when missing. */
  getSubscriptionAttributes(topicName: string, subscriptionName: string): Promise<SubscriptionAttributes | ErrorResult>;
  /** This node's Raft state (answered by the node asked, never forwarded). */
  clusterStatus(): Promise<ClusterStatusView>;
  /** Hand leadership to `nodeId` (on the leader; followers forward it like any write). */
  transferLeader(nodeId: string): Promise<{ ok: true; from: string; to: string } | ErrorResult>;
  /**
   * Add a voter (reachable by its peers at `address`, "host:port") or remove one; on the leader,
   * answered once the change is committed, with the voters it produced.
   */
  changeMembership(change: MembershipChange): Promise<{ ok: true; voters: string[] } | ErrorResult>;
}

export type MembershipChange = { type: 'add'; nodeId: string; address: string } | { type: 'remove'; nodeId: string };
