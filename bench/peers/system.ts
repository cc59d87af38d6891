// The interface every system under comparison implements, so the harness runs the same
// scenarios against each: opencmq, RabbitMQ quorum queues and NATS JetStream.

import type { ScenarioResult, Until } from './measure';

export interface FailoverDriver {
  /** Ids per send call (opencmq batches 16; the peers publish one message per call). */
  readonly idsPerSend: number;
  /** Send one message per id; resolves once acknowledged, throws when not (the caller retries). */
  send(ids: number[]): Promise<void>;
  /** Start consuming; onMessage gets the id of every delivery. Resolves to a function that stops it. */
  /**
   * `copy` names the stored message (opencmq: its msgId) where the system has such a name: a
   * repeated delivery of the same copy is a redelivery (its delete or ack was lost), a delivery of
   * another copy of the same id is a duplicate (the message was stored twice). Without it, every
   * repeated delivery counts as a duplicate.
   */
  consume(onMessage: (id: number, copy?: string) => void): Promise<() => Promise<void>>;
  /** Kill the leader of the queue's replica group with SIGKILL; returns which node it was. */
  killLeader(): Promise<string>;
}

export interface PeerSystem {
  readonly name: string;
  /** When an acknowledged message is on disk, stated in the output. */
  readonly durability: string;
  /** Every server process, for CPU accounting. */
  serverPids(): number[];
  /** Create a queue (RabbitMQ quorum queue, NATS R3 file stream, opencmq queue) named `q`. */
  createQueue(q: string): Promise<void>;
  /** Publish fixed 1 KiB messages with confirms, IN_FLIGHT_MAX unconfirmed at most. */
  produce(q: string, until: Until): Promise<ScenarioResult>;
  /** Consume and acknowledge `count` messages from the backlog in q. */
  consume(q: string, count: number): Promise<ScenarioResult>;
  /** Produce (half the in-flight window) and consume at once; messages = produced. */
  mixed(q: string, durationS: number): Promise<ScenarioResult>;
  /** A queue (or stream) set up for the failover run, with its clients away from the leader. */
  failover(q: string): Promise<FailoverDriver>;
  stop(): Promise<void>;
}
