// The metrics registry: what it exposes from a node's observation (read at scrape time), request
// counts by action and code, the per-queue cap, and the CLI's admin-port defaults.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import type { QueueAttributes } from '../../src/broker/commands';
import { SQS_QUEUE_DEFAULTS } from '../../src/protocol/queue-types';
import { serverOptionsFrom } from '../../src/cli/commands';
import { UsageError } from '../../src/cli/cli-io';
import type { TransportStats } from '../../src/transport';
import { NodeMetrics, queueRows, type MetricsSource } from '../../src/node/metrics';
import type { NodeObservation } from '../../src/node/queue-node';
import { parsePromText, sampleValue } from '../helpers/prom-text';
import { leaderStatus } from '../helpers/raft-status';

const NOW_MS = 1_700_000_100_000;

function queue(name: string, visible: number, inflight: number, delayed: number, minMsgTime: number): QueueAttributes {
  return {
    queueId: `id-${name}`,
    queueName: name,
    maxMsgHeapNum: 1000,
    pollingWaitSeconds: 0,
    visibilityTimeout: 30,
    maxMsgSize: 65536,
    msgRetentionSeconds: 345600,
    rewindSeconds: 0,
    createTime: 0,
    lastModifyTime: 0,
    activeMsgNum: visible,
    inactiveMsgNum: inflight,
    delayMsgNum: delayed,
    rewindMsgNum: 0,
    minMsgTime,
    sqs: { ...SQS_QUEUE_DEFAULTS },
    tags: {},
  };
}

function observation(over: Partial<NodeObservation['raft']> = {}): NodeObservation {
  return {
    raft: leaderStatus(
      {
        n2: { matchIndex: 100, nextIndex: 101, state: 'replicate', recentActive: true, pendingSnapshot: 0 },
        n3: { matchIndex: 60, nextIndex: 61, state: 'probe', recentActive: true, pendingSnapshot: 0 },
      } as unknown as NodeObservation['raft']['progress'],
      over,
    ),
    raftCounters: { elections: 2, leaderChanges: 3, snapshotsSent: 1, snapshotSendFailures: 0, stallStepDowns: 0 },
    closing: false,
    fatal: undefined,
    diskStall: undefined,
    wal: { bytesWritten: 4096, segments: 2, diskBytes: 1 << 20 },
    broker: { queues: 3, messages: { visible: 0, inFlight: 0, delayed: 0, rewind: 0 }, quarantined: 0, deadLetterMoves: 5, deadLetterDrops: 1, deadLetterPending: 4, dedup: { ids: 12, evicted: 2 } },
    topics: { topics: 1, pendingPushes: 2, deliveryDrops: 7, pushDrops: 1, pushesDelivered: 9, remoteQueueDeliveries: 5 },
    served: { messagesSent: 11, messagesReceived: 8, messagesDeleted: 6, messagesPublished: 4, pushFailures: 3, remoteQueueGone: 2 },
    snapshotsInstalled: 0,
    compaction: { liveBytes: 400_000, reclaimableBytes: 8 << 20, snapshotCostBytes: 50_000, censuses: 3, runs: 1, bytesCopied: 399_000, msSpent: 1500 },
  };
}

function source(o: NodeObservation, queues: QueueAttributes[]): MetricsSource {
  return { observe: () => o, eachQueue: () => queues };
}

async function scrape(m: NodeMetrics): Promise<ReturnType<typeof parsePromText>> {
  return parsePromText(await m.render());
}

void describe('metrics', () => {
  void test('Raft, WAL, broker and topic values come from the node observation at scrape time', async () => {
    const m = new NodeMetrics({ processMetrics: false, now: () => NOW_MS });
    const o = observation();
    m.attach(source(o, []));
    let e = await scrape(m);
    assert.equal(e.types.get('opencmq_raft_term'), 'gauge');
    assert.equal(sampleValue(e, 'opencmq_raft_term'), 4);
    assert.equal(sampleValue(e, 'opencmq_raft_role', { role: 'leader' }), 1);
    assert.equal(sampleValue(e, 'opencmq_raft_role', { role: 'follower' }), 0);
    assert.equal(sampleValue(e, 'opencmq_raft_leader', { leader: 'n1' }), 1);
    assert.equal(sampleValue(e, 'opencmq_raft_commit_index'), 90);
    assert.equal(sampleValue(e, 'opencmq_raft_follower_lag_entries', { peer: 'n2' }), 0);
    assert.equal(sampleValue(e, 'opencmq_raft_follower_lag_entries', { peer: 'n3' }), 40);
    assert.equal(e.types.get('opencmq_raft_leader_changes_total'), 'counter');
    assert.equal(sampleValue(e, 'opencmq_raft_leader_changes_total'), 3);
    assert.equal(sampleValue(e, 'opencmq_wal_segments'), 2);
    assert.equal(sampleValue(e, 'opencmq_disk_stalled'), 0);
    assert.equal(sampleValue(e, 'opencmq_topic_pushes_total', { result: 'failed' }), 3);
    assert.equal(sampleValue(e, 'opencmq_topic_delivery_drops_total'), 7);
    assert.equal(sampleValue(e, 'opencmq_topic_remote_queue_deliveries_total'), 5);
    assert.equal(sampleValue(e, 'opencmq_topic_remote_queue_gone_total'), 2);
    assert.equal(sampleValue(e, 'opencmq_dead_letter_moves_total'), 5);
    assert.equal(sampleValue(e, 'opencmq_dead_letter_pending'), 4);
    assert.equal(sampleValue(e, 'opencmq_dedup_ids'), 12);
    assert.equal(sampleValue(e, 'opencmq_dedup_evicted_total'), 2);
    assert.equal(sampleValue(e, 'opencmq_ready'), 1);

    // A later scrape sees the node as it is then: a follower without a leader, a stalled disk.
    o.raft = { ...o.raft, role: 'preCandidate', leader: undefined, progress: {}, term: 5 };
    o.diskStall = 'disk full on n1 (ENOSPC at write of x)';
    o.raftCounters = { ...o.raftCounters, leaderChanges: 4 };
    e = await scrape(m);
    assert.equal(sampleValue(e, 'opencmq_raft_term'), 5);
    assert.equal(sampleValue(e, 'opencmq_raft_role', { role: 'preCandidate' }), 1);
    assert.equal(e.samples.filter((s) => s.name === 'opencmq_raft_leader').length, 0);
    assert.equal(e.samples.filter((s) => s.name === 'opencmq_raft_follower_lag_entries').length, 0);
    assert.equal(sampleValue(e, 'opencmq_raft_leader_changes_total'), 4);
    assert.equal(sampleValue(e, 'opencmq_disk_stalled'), 1);
    assert.equal(sampleValue(e, 'opencmq_ready'), 0);
  });

  void test('requests are counted by action and code, with a latency histogram by action', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    m.requestDone('SendMessage', 0, 0.002);
    m.requestDone('SendMessage', 0, 0.004);
    m.requestDone('SendMessage', 4440, 0.001);
    m.requestDone('unknown', 4000, 0.0001);
    const e = await scrape(m);
    assert.equal(sampleValue(e, 'opencmq_api_requests_total', { action: 'SendMessage', code: '0' }), 2);
    assert.equal(sampleValue(e, 'opencmq_api_requests_total', { action: 'SendMessage', code: '4440' }), 1);
    assert.equal(sampleValue(e, 'opencmq_api_requests_total', { action: 'unknown', code: '4000' }), 1);
    assert.equal(sampleValue(e, 'opencmq_api_request_duration_seconds_count', { action: 'SendMessage' }), 3);
    assert.equal(sampleValue(e, 'opencmq_api_request_duration_seconds_bucket', { action: 'SendMessage', le: '0.0025' }), 2);
  });

  void test('a set member exposes what its failure detection gave up and which calls went round an unreachable leader', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    const c = { givenUpLeaderSilent: 3, givenUpEchoUnanswered: 2, echoesSent: 7, echoesUnanswered: 1, relayedOut: 5, relayedIn: 4, refusedUnreachable: 6 };
    m.attachPeerPaths(() => c);
    let e = await scrape(m);
    assert.equal(sampleValue(e, 'opencmq_peer_requests_given_up_total', { reason: 'leader_silent' }), 3);
    assert.equal(sampleValue(e, 'opencmq_peer_requests_given_up_total', { reason: 'echo_unanswered' }), 2);
    assert.equal(sampleValue(e, 'opencmq_peer_echoes_sent_total'), 7);
    assert.equal(sampleValue(e, 'opencmq_peer_echoes_unanswered_total'), 1);
    assert.equal(sampleValue(e, 'opencmq_calls_relayed_total', { direction: 'sent' }), 5);
    assert.equal(sampleValue(e, 'opencmq_calls_relayed_total', { direction: 'passed_on' }), 4);
    assert.equal(sampleValue(e, 'opencmq_calls_refused_unreachable_total'), 6);
    c.relayedOut = 9;
    e = await scrape(m);
    assert.equal(sampleValue(e, 'opencmq_calls_relayed_total', { direction: 'sent' }), 9, 'read afresh at every scrape');
  });

  void test('a set member exposes each peer link\'s traffic: bytes, frames, writes, drops, reconnects, connected', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    const link = (over: Record<string, unknown>) => ({ connected: true, bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, writes: 0, dropped: 0, reconnects: 0, ...over });
    const stats = { peers: { n2: link({ bytesOut: 4096, bytesIn: 512, framesOut: 40, writes: 8, dropped: 1, reconnects: 2 }), n3: link({ connected: false }) } };
    m.attachPeerLinks(() => stats as unknown as TransportStats);
    const e = await scrape(m);
    assert.equal(sampleValue(e, 'opencmq_peer_bytes_sent_total', { peer: 'n2' }), 4096);
    assert.equal(sampleValue(e, 'opencmq_peer_bytes_received_total', { peer: 'n2' }), 512);
    assert.equal(sampleValue(e, 'opencmq_peer_frames_sent_total', { peer: 'n2' }), 40);
    assert.equal(sampleValue(e, 'opencmq_peer_writes_total', { peer: 'n2' }), 8);
    assert.equal(sampleValue(e, 'opencmq_peer_frames_dropped_total', { peer: 'n2' }), 1);
    assert.equal(sampleValue(e, 'opencmq_peer_reconnects_total', { peer: 'n2' }), 2);
    assert.equal(sampleValue(e, 'opencmq_peer_connected', { peer: 'n2' }), 1);
    assert.equal(sampleValue(e, 'opencmq_peer_connected', { peer: 'n3' }), 0);
  });

  void test('the service observer records a duration histogram by action and outcome kind', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    const ctx = { requestId: 'r-1', clientAddress: '127.0.0.1', receivedAtMs: 0 };
    m.requestObserver.served('SendMessage', ctx, 'ok', 2);
    m.requestObserver.served('SendMessage', ctx, 'ok', 40);
    m.requestObserver.served('SendMessage', ctx, 'notApplied', 1);
    m.requestObserver.served('GetQueueAttributes', ctx, 'notFound', 0.3);
    const e = await scrape(m);
    assert.equal(sampleValue(e, 'opencmq_request_duration_seconds_count', { action: 'SendMessage', outcome: 'ok' }), 2);
    assert.equal(sampleValue(e, 'opencmq_request_duration_seconds_bucket', { action: 'SendMessage', outcome: 'ok', le: '0.0025' }), 1, 'milliseconds in, seconds out');
    assert.equal(sampleValue(e, 'opencmq_request_duration_seconds_count', { action: 'SendMessage', outcome: 'notApplied' }), 1);
    assert.equal(sampleValue(e, 'opencmq_request_duration_seconds_count', { action: 'GetQueueAttributes', outcome: 'notFound' }), 1);
    assert.equal(sampleValue(e, 'opencmq_request_duration_seconds_sum', { action: 'GetQueueAttributes', outcome: 'notFound' }), 0.0003);
  });

  void test('per-queue backlog and oldest age, computed at scrape time', async () => {
    const m = new NodeMetrics({ processMetrics: false, now: () => NOW_MS });
    const queues = [queue('orders', 3, 2, 1, NOW_MS / 1000 - 42), queue('empty', 0, 0, 0, 0)];
    m.attach(source(observation(), queues));
    const e = await scrape(m);
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: 'orders', state: 'visible' }), 3);
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: 'orders', state: 'inflight' }), 2);
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: 'orders', state: 'delayed' }), 1);
    assert.equal(sampleValue(e, 'opencmq_queue_oldest_message_age_seconds', { queue: 'orders' }), 42);
    assert.equal(sampleValue(e, 'opencmq_queue_oldest_message_age_seconds', { queue: 'empty' }), 0);
    // A deleted queue disappears from the next scrape.
    queues.pop();
    const e2 = await scrape(m);
    assert.equal(sampleValue(e2, 'opencmq_queue_messages', { queue: 'empty', state: 'visible' }), undefined);
  });

  void test('queues beyond the cap are summed under queue="_other" (the first ones by name keep their label)', async () => {
    const queues = [queue('d', 1, 0, 0, 100), queue('a', 2, 0, 0, 0), queue('c', 4, 1, 0, 50), queue('b', 8, 0, 2, 0)];
    const rows = queueRows(queues, 2, 200_000);
    assert.deepEqual(
      rows.map((r) => r.queue),
      ['a', 'b', '_other'],
    );
    assert.deepEqual(rows[2], { queue: '_other', visible: 5, inflight: 1, delayed: 0, oldestAgeSeconds: 150 });
    assert.deepEqual(
      queueRows(queues, 4, 0).map((r) => r.queue),
      ['a', 'b', 'c', 'd'],
    );

    const m = new NodeMetrics({ processMetrics: false, maxQueues: 2, now: () => 200_000 });
    m.attach(source(observation(), queues));
    const e = await scrape(m);
    const labels = new Set(e.samples.filter((s) => s.name === 'opencmq_queue_messages').map((s) => s.labels.queue));
    assert.deepEqual([...labels].sort(), ['_other', 'a', 'b']);
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: '_other', state: 'visible' }), 5);
  });

  void test('process metrics are included by default', async () => {
    const m = new NodeMetrics();
    const e = await scrape(m);
    assert.ok(e.types.has('process_cpu_user_seconds_total'));
    assert.ok(e.types.has('nodejs_eventloop_lag_seconds'));
  });
});

void describe('admin listener options', () => {
  const io = { env: {}, err: () => undefined };
  void test('the admin port defaults to --port + 80, is off for --port 0, and --admin-port 0 turns it off', () => {
    assert.equal(serverOptionsFrom({}, io).adminPort, 9680);
    assert.equal(serverOptionsFrom({ port: '9601' }, io).adminPort, 9681);
    assert.equal(serverOptionsFrom({ port: '0' }, io).adminPort, undefined);
    assert.equal(serverOptionsFrom({ port: '0', 'admin-port': '7000' }, io).adminPort, 7000);
    assert.equal(serverOptionsFrom({ 'admin-port': '0' }, io).adminPort, undefined);
    const o = serverOptionsFrom({ 'admin-host': '0.0.0.0', 'metrics-max-queues': '50' }, io);
    assert.equal(o.adminHost, '0.0.0.0');
    assert.equal(o.metricsMaxQueues, 50);
    assert.throws(() => serverOptionsFrom({ 'admin-port': '70000' }, io), UsageError);
  });
});
