// Prometheus metrics of one node (GET /metrics on the admin listener), through prom-client.
//
// Cost on the request path is kept to a Map increment (request counts) and one histogram
// observation per request and per WAL flush/fsync. Everything else (Raft state, WAL size, queue
// backlogs, broker and topic counters) is read from the node only when Prometheus scrapes, in
// collect() callbacks: the state machine and the Raft core already keep those numbers, and
// raft/ and broker/ stay free of any metrics code.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { QueueAttributes } from '../broker/commands';
import type { ErrorKind } from '../protocol/errors';
import type { RequestObserver } from '../service/observer';
import type { WalObserver } from '../storage/wal';
import type { PeerStats, TransportStats } from '../transport';
import type { PeerRequestCounters } from './peer-requests';
import type { NodeObservation } from './queue-node';
import type { RelayCounters } from './service-calls';
import { decideReadiness } from './readiness';
import { METRICS_DEFAULTS, OTHER_QUEUES_LABEL } from './server-options';

/** Request latencies: CMQ calls range from sub-millisecond reads to 30 s long polls. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Disk latencies: a healthy fdatasync is 0.05-10 ms; seconds mean a failing or saturated disk. */
const DISK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

const RAFT_ROLES = ['follower', 'preCandidate', 'candidate', 'leader'] as const;

/** What the metrics read from the node at scrape time. QueueNode implements it. */
export interface MetricsSource {
  observe(): NodeObservation;
  eachQueue(): Iterable<QueueAttributes>;
}

export interface NodeMetricsOptions {
  /** Cap on distinct `queue` label values (default METRICS_DEFAULTS.maxQueues). */
  maxQueues?: number;
  /** Wall clock in ms, for message ages (injected by tests). */
  now?: () => number;
  /** Also export prom-client's process metrics (CPU, memory, event loop lag, GC). Default true. */
  processMetrics?: boolean;
}

/** A set member's failure-detection and relay counters (PeerRequests and RoutedQueueService). */
export type PeerPathCounters = PeerRequestCounters & RelayCounters;

export class NodeMetrics {
  readonly registry = new Registry();
  /** Pass to the WAL (QueueNodeOptions.walObserver). */
  readonly walObserver: WalObserver;
  private source: MetricsSource | undefined;
  private peerPaths: (() => PeerPathCounters) | undefined;
  private peerLinks: (() => TransportStats) | undefined;
  /** Requests by "action\0code": a Map increment per request; turned into the counter at scrape. */
  private readonly requestCounts = new Map<string, { action: string; code: string; n: number }>();
  private readonly requestSeconds: Histogram<'action'>;
  private readonly servedSeconds: Histogram<'action' | 'outcome'>;
  private forwardedRequests = 0;
  private readonly maxQueues: number;
  private readonly now: () => number;

  constructor(opts: NodeMetricsOptions = {}) {
    this.maxQueues = opts.maxQueues ?? METRICS_DEFAULTS.maxQueues;
    this.now = opts.now ?? Date.now;
    const registers = [this.registry];
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    const counts = this.requestCounts;
    new Counter({
      name: 'opencmq_api_requests_total',
      help: 'CMQ API requests executed on this node, by action and CMQ result code (0 = success)',
      labelNames: ['action', 'code'],
      registers,
      collect() {
        this.reset();
        for (const c of counts.values()) this.inc({ action: c.action, code: c.code }, c.n);
      },
    });
    const forwarded = (): number => this.forwardedRequests;
    new Counter({
      name: 'opencmq_api_forwarded_requests_total',
      help: 'CMQ API requests this node received and forwarded to the leader (they are counted by action where executed)',
      registers,
      collect() {
        this.reset();
        this.inc(forwarded());
      },
    });
    this.requestSeconds = new Histogram({
      name: 'opencmq_api_request_duration_seconds',
      help: 'Time to execute a CMQ API request on this node (parameters to answer), by action',
      labelNames: ['action'],
      buckets: REQUEST_BUCKETS,
      registers,
    });

    this.servedSeconds = new Histogram({
      name: 'opencmq_request_duration_seconds',
      help: 'Time to execute a request on this node, by action and outcome (ok, or the kind of error: notApplied, outcomeUnknown, notFound, ...)',
      labelNames: ['action', 'outcome'],
      buckets: REQUEST_BUCKETS,
      registers,
    });

    const walFlush = new Histogram({
      name: 'opencmq_wal_append_duration_seconds',
      help: 'Time to write and fdatasync one group-commit batch of the write-ahead log',
      buckets: DISK_BUCKETS,
      registers,
    });
    const walSync = new Histogram({
      name: 'opencmq_wal_fsync_duration_seconds',
      help: 'Time of one fdatasync of write-ahead log data',
      buckets: DISK_BUCKETS,
      registers,
    });
    this.walObserver = {
      flushed: (s) => walFlush.observe(s),
      datasynced: (s) => walSync.observe(s),
    };

    this.registerNodeMetrics(registers);
    this.registerQueueMetrics(registers);
    this.registerPeerPathMetrics(registers);
    this.registerPeerLinkMetrics(registers);
  }

  private registerPeerLinkMetrics(registers: Registry[]): void {
    /** Each peer's link stats, or undefined on a node without peers (the series stay empty). */
    const peers = (): [string, PeerStats][] | undefined => {
      const t = this.peerLinks?.();
      return t === undefined ? undefined : Object.entries(t.peers);
    };
    const counter = (name: string, help: string, value: (p: PeerStats) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['peer'],
        registers,
        collect() {
          const ps = peers();
          if (ps === undefined) return;
          this.reset();
          for (const [peer, p] of ps) this.inc({ peer }, value(p));
        },
      });
    };
    new Gauge({
      name: 'opencmq_peer_connected',
      help: '1 while a connection to the member is up',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        for (const [peer, p] of peers() ?? []) this.set({ peer }, p.connected ? 1 : 0);
      },
    });
    counter('opencmq_peer_bytes_sent_total', 'Bytes written to the member (frames, headers and batch MACs)', (p) => p.bytesOut);
    counter('opencmq_peer_bytes_received_total', 'Bytes read from the member', (p) => p.bytesIn);
    counter('opencmq_peer_frames_sent_total', 'Frames (Raft messages, requests, answers) written to the member', (p) => p.framesOut);
    counter('opencmq_peer_writes_total', 'Socket writes to the member: each carries every frame queued for it in one event-loop turn', (p) => p.writes);
    counter('opencmq_peer_frames_dropped_total', 'Raft frames dropped because the queue to the member was full (Raft sends them again)', (p) => p.dropped);
    counter('opencmq_peer_reconnects_total', 'Connections to the member re-established after the first', (p) => p.reconnects);
  }

  private registerPeerPathMetrics(registers: Registry[]): void {
    const read = (): PeerPathCounters | undefined => this.peerPaths?.();
    const counter = (name: string, help: string, labelName: string | undefined, values: (c: PeerPathCounters) => [label: string, n: number][]): void => {
      new Counter({
        name,
        help,
        labelNames: labelName === undefined ? [] : [labelName],
        registers,
        collect() {
          const c = read();
          if (c === undefined) return;
          this.reset();
          for (const [label, n] of values(c)) {
            if (labelName === undefined) this.inc(n);
            else this.inc({ [labelName]: label }, n);
          }
        },
      });
    };
    counter('opencmq_peer_requests_given_up_total', 'Requests to another member answered "outcome unknown" by failure detection: the leader fell silent, or the member did not answer an echo', 'reason', (c) => [
      ['leader_silent', c.givenUpLeaderSilent],
      ['echo_unanswered', c.givenUpEchoUnanswered],
    ]);
    counter('opencmq_peer_echoes_sent_total', 'Echo requests sent to check the path to a member a request waited on', undefined, (c) => [['', c.echoesSent]]);
    counter('opencmq_peer_echoes_unanswered_total', 'Echo requests a member did not answer in time (the path to it is broken one way or both)', undefined, (c) => [['', c.echoesUnanswered]]);
    counter('opencmq_calls_relayed_total', 'Service calls relayed round an unreachable leader: sent through another member from here, or passed on here for another member', 'direction', (c) => [
      ['sent', c.relayedOut],
      ['passed_on', c.relayedIn],
    ]);
    counter('opencmq_calls_refused_unreachable_total', 'Service calls answered 6100 at once because neither the leader nor another member could be reached', undefined, (c) => [['', c.refusedUnreachable]]);
  }

  /** The node to read at scrape time (it is opened after the metrics, which its WAL reports to). */
  attach(source: MetricsSource): void {
    this.source = source;
  }

  /** A member of a set: its failure detection's and relays' counters, read at scrape time. */
  attachPeerPaths(read: () => PeerPathCounters): void {
    this.peerPaths = read;
  }

  /** A member of a set: its peer links' traffic, read at scrape time. */
  attachPeerLinks(read: () => TransportStats): void {
    this.peerLinks = read;
  }

  /** Called once per executed CMQ request (see ApiOptions.onRequestDone). */
  readonly requestDone = (action: string, code: number, seconds: number): void => {
    const key = `${action}\0${code}`;
    const c = this.requestCounts.get(key);
    if (c) c.n++;
    else this.requestCounts.set(key, { action, code: String(code), n: 1 });
    this.requestSeconds.observe({ action }, seconds);
  };

  /**
   * The service's observer (see ApiOptions.observer). Labels stay bounded: actions come from the
   * protocol's fixed table ("unknown" otherwise), outcomes from the fixed set of error kinds.
   */
  readonly requestObserver: RequestObserver = {
    served: (action: string, _ctx, outcome: ErrorKind | 'ok', durationMs: number): void => {
      this.servedSeconds.observe({ action, outcome }, durationMs / 1000);
    },
  };

  /** Called once per request handed to the leader (see ApiOptions.onForwarded). */
  readonly requestForwarded = (): void => {
    this.forwardedRequests++;
  };

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Gauges and counters whose values the node keeps anyway: each reads one observation of the
   * node per scrape (shared by all of them through `snap`).
   */
  private registerNodeMetrics(registers: Registry[]): void {
    // One observation per scrape: collect() callbacks run one after another within metrics().
    let taken: { at: number; o: NodeObservation } | undefined;
    let scrape = 0;
    const snap = (): NodeObservation | undefined => {
      if (!this.source) return undefined;
      if (!taken || taken.at !== scrape) taken = { at: scrape, o: this.source.observe() };
      return taken.o;
    };
    const gauge = (name: string, help: string, read: (o: NodeObservation) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const o = snap();
          if (o) this.set(read(o));
        },
      });
    };
    const counter = (name: string, help: string, read: (o: NodeObservation) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          const o = snap();
          if (!o) return;
          this.reset();
          this.inc(read(o));
        },
      });
    };
    /** A gauge with one label, its series recomputed at each scrape (series that vanished go). */
    const labelled = (name: string, help: string, label: string, read: (o: NodeObservation) => Iterable<[string, number]>): void => {
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          const o = snap();
          if (!o) return;
          this.reset();
          for (const [value, n] of read(o)) this.set({ [label]: value }, n);
        },
      });
    };
    // Registered first, so every scrape starts a fresh observation.
    new Gauge({
      name: 'opencmq_ready',
      help: '1 when this node can serve clients (what GET /readyz answers 200 for), else 0',
      registers,
      collect() {
        scrape++;
        const o = snap();
        if (o) this.set(decideReadiness(o).ready ? 1 : 0);
      },
    });
    gauge('opencmq_raft_term', 'Current Raft term', (o) => o.raft.term);
    labelled("opencmq_raft_role", "This node's Raft role: 1 for the current role, 0 for the others", 'role', (o) =>
      RAFT_ROLES.map((role): [string, number] => [role, o.raft.role === role ? 1 : 0]),
    );
    labelled('opencmq_raft_leader', 'The leader this node knows: 1 with leader="<node id>"; absent when none is known', 'leader', (o) =>
      o.raft.leader === undefined ? [] : [[o.raft.leader, 1]],
    );
    gauge('opencmq_raft_has_leader', '1 when this node knows a leader, else 0', (o) => (o.raft.leader === undefined ? 0 : 1));
    gauge('opencmq_raft_commit_index', 'Highest log index known committed', (o) => o.raft.commitIndex);
    gauge('opencmq_raft_applied_index', 'Highest log index applied to the queue state', (o) => o.raft.appliedIndex);
    gauge('opencmq_raft_last_index', 'Last index in the local log', (o) => o.raft.lastIndex);
    gauge('opencmq_raft_voters', 'Voters in the current configuration', (o) => o.raft.voters.length);
    labelled(
      'opencmq_raft_follower_lag_entries',
      "On the leader only: entries each follower lacks (leader's last index minus the follower's match index)",
      'peer',
      (o) => Object.entries(o.raft.progress).map(([peer, p]): [string, number] => [peer, Math.max(0, o.raft.lastIndex - p.matchIndex)]),
    );
    counter('opencmq_raft_elections_total', 'Elections this node started (became a candidate) since it started', (o) => o.raftCounters.elections);
    counter('opencmq_raft_leader_changes_total', 'Times this node saw a new leader since it started', (o) => o.raftCounters.leaderChanges);
    counter('opencmq_raft_snapshots_sent_total', 'Snapshots streamed to followers behind the compacted log', (o) => o.raftCounters.snapshotsSent);
    counter('opencmq_raft_snapshot_send_failures_total', 'Snapshot transfers to followers that failed', (o) => o.raftCounters.snapshotSendFailures);
    counter('opencmq_raft_stall_step_downs_total', 'Times this node, leading with a stalled disk, handed leadership to a follower', (o) => o.raftCounters.stallStepDowns);
    counter('opencmq_raft_snapshots_received_total', 'Snapshots installed from the leader', (o) => o.snapshotsInstalled);

    counter('opencmq_wal_bytes_written_total', 'Bytes written to the write-ahead log since it was opened', (o) => o.wal.bytesWritten);
    gauge('opencmq_wal_segments', 'Segment files in the write-ahead log', (o) => o.wal.segments);
    gauge('opencmq_wal_disk_bytes', 'Bytes the write-ahead log occupies on disk (segments plus the preallocated next one)', (o) => o.wal.diskBytes);
    gauge('opencmq_compaction_live_bytes', 'Body bytes of live messages (visible, in flight, delayed, kept for rewind) at the last compaction census', (o) => o.compaction.liveBytes);
    gauge('opencmq_compaction_reclaimable_bytes', 'Bytes of closed log segments that compaction and the next snapshot would free, at the last census', (o) => o.compaction.reclaimableBytes);
    counter('opencmq_compaction_censuses_total', 'Compaction censuses of live bodies per log segment', (o) => o.compaction.censuses);
    counter('opencmq_compaction_runs_total', 'Compaction passes that copied live bodies out of sparse segments (the leader)', (o) => o.compaction.runs);
    counter('opencmq_compaction_copied_bytes_total', 'Body bytes relocation entries copied into this member\'s log', (o) => o.compaction.bytesCopied);
    counter('opencmq_compaction_seconds_total', 'Time spent in compaction censuses and relocation passes', (o) => o.compaction.msSpent / 1000);
    gauge('opencmq_disk_stalled', '1 while a write, allocation or fsync is failing (disk full, I/O error) and writes are refused', (o) =>
      o.diskStall === undefined ? 0 : 1,
    );

    counter('opencmq_messages_sent_total', 'Messages accepted by SendMessage/BatchSendMessage on this node as leader', (o) => o.served.messagesSent);
    counter('opencmq_messages_received_total', 'Messages handed out by ReceiveMessage/BatchReceiveMessage on this node as leader', (o) => o.served.messagesReceived);
    counter('opencmq_messages_deleted_total', 'Messages deleted by DeleteMessage/BatchDeleteMessage on this node as leader', (o) => o.served.messagesDeleted);
    counter('opencmq_dead_letter_moves_total', 'Messages moved to a dead-letter queue (replicated state: the same on every member)', (o) => o.broker.deadLetterMoves);
    counter('opencmq_dead_letter_drops_total', 'Messages dropped because their dead-letter queue no longer existed (or, on another set, refused them for good)', (o) => o.broker.deadLetterDrops);
    gauge('opencmq_dead_letter_pending', 'Dead letters waiting to be sent to their dead-letter queue on another set (replicated state)', (o) => o.broker.deadLetterPending);
    counter('opencmq_messages_quarantined_total', 'Messages removed from delivery because no intact copy of their body was found', (o) => o.broker.quarantined);
    gauge('opencmq_dedup_ids', 'Send deduplication ids remembered (at most 500,000, each for 5 minutes)', (o) => o.broker.dedup.ids);
    counter(
      'opencmq_dedup_evicted_total',
      'Deduplication ids forgotten before their 5 minutes because the table was full (a retry of their send would be stored again)',
      (o) => o.broker.dedup.evicted,
    );
    gauge('opencmq_queues', 'Queues', (o) => o.broker.queues);
    gauge('opencmq_topics', 'Topics', (o) => o.topics.topics);

    counter('opencmq_topic_messages_published_total', 'Messages accepted by PublishMessage/BatchPublishMessage on this node as leader', (o) => o.served.messagesPublished);
    new Counter({
      name: 'opencmq_topic_pushes_total',
      help: 'Pushes to http subscribers and to queues on other sets: result="ok" delivered (replicated state), result="failed" attempts that failed on this node as leader (each retry counts)',
      labelNames: ['result'],
      registers,
      collect() {
        const o = snap();
        if (!o) return;
        this.reset();
        this.inc({ result: 'ok' }, o.topics.pushesDelivered);
        this.inc({ result: 'failed' }, o.served.pushFailures);
      },
    });
    gauge('opencmq_topic_pushes_pending', 'Pushes to http subscribers and to queues on other sets waiting for delivery or a retry', (o) => o.topics.pendingPushes);
    counter(
      'opencmq_topic_remote_queue_deliveries_total',
      'Of the delivered pushes, messages sent into a queue on another set (replicated state)',
      (o) => o.topics.remoteQueueDeliveries,
    );
    counter(
      'opencmq_topic_remote_queue_gone_total',
      'Sends into a queue on another set refused because the queue does not exist or refuses the message, on this node as leader (each retry counts)',
      (o) => o.served.remoteQueueGone,
    );
    counter('opencmq_topic_push_drops_total', 'Pushes given up: retries exhausted, retention expired, or the pending list full', (o) => o.topics.pushDrops);
    counter(
      'opencmq_topic_delivery_drops_total',
      'Published messages not delivered to a subscribed queue because it is missing or refused them, per message',
      (o) => o.topics.deliveryDrops,
    );
  }

  /** Per-queue backlog, computed from the state machine at scrape time and capped in cardinality. */
  private registerQueueMetrics(registers: Registry[]): void {
    // Both gauges are filled from one pass over the queues, made by whichever collects first.
    let rows: QueueRow[] | undefined;
    const take = (): QueueRow[] => {
      const r = rows ?? (this.source ? queueRows(this.source.eachQueue(), this.maxQueues, this.now()) : []);
      rows = r === rows ? undefined : r;
      return r;
    };
    new Gauge({
      name: 'opencmq_queue_messages',
      help: `Messages in a queue by state (visible, inflight, delayed); queues beyond the first --metrics-max-queues by name are summed under queue="${OTHER_QUEUES_LABEL}"`,
      labelNames: ['queue', 'state'],
      registers,
      collect() {
        this.reset();
        for (const r of take()) {
          this.set({ queue: r.queue, state: 'visible' }, r.visible);
          this.set({ queue: r.queue, state: 'inflight' }, r.inflight);
          this.set({ queue: r.queue, state: 'delayed' }, r.delayed);
        }
      },
    });
    new Gauge({
      name: 'opencmq_queue_oldest_message_age_seconds',
      help: `Age of the oldest message not yet deleted (0 when empty); queue="${OTHER_QUEUES_LABEL}" has the oldest among the queues beyond the cap`,
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const r of take()) this.set({ queue: r.queue }, r.oldestAgeSeconds);
      },
    });
  }
}

interface QueueRow {
  queue: string;
  visible: number;
  inflight: number;
  delayed: number;
  oldestAgeSeconds: number;
}

/**
 * One row per queue for the first `max` queues by name, the rest summed into one "_other" row
 * (its age the oldest among them), so a set with many queues cannot flood Prometheus.
 */
export function queueRows(queues: Iterable<QueueAttributes>, max: number, nowMs: number): QueueRow[] {
  const all = [...queues].sort((a, b) => (a.queueName < b.queueName ? -1 : a.queueName > b.queueName ? 1 : 0));
  const rows: QueueRow[] = [];
  let other: QueueRow | undefined;
  for (const [i, q] of all.entries()) {
    const row: QueueRow = {
      queue: q.queueName,
      visible: q.activeMsgNum,
      inflight: q.inactiveMsgNum,
      delayed: q.delayMsgNum,
      oldestAgeSeconds: q.minMsgTime > 0 ? Math.max(0, nowMs / 1000 - q.minMsgTime) : 0,
    };
    if (i < max) {
      rows.push(row);
      continue;
    }
    other ??= { queue: OTHER_QUEUES_LABEL, visible: 0, inflight: 0, delayed: 0, oldestAgeSeconds: 0 };
    other.visible += row.visible;
    other.inflight += row.inflight;
    other.delayed += row.delayed;
    other.oldestAgeSeconds = Math.max(other.oldestAgeSeconds, row.oldestAgeSeconds);
  }
  if (other) rows.push(other);
  return rows;
}
