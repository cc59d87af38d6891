// The admin listener of real server processes: /healthz, /readyz (ready on a started one-node
// server; 503 with a reason on a member whose peers are gone and on a --join node nobody added),
// and /metrics in the Prometheus text format with request counts, per-queue gauges (capped) and
// Raft gauges. The CMQ port keeps answering every path as CMQ.

import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

import { freePort, freePorts, SECRET, startTestSet, waitForLeader } from '../helpers/cluster';
import { parsePromText, sampleValue } from '../helpers/prom-text';
import { cmqCall } from '../helpers/raw-cmq';
import { makeDataDir, spawnServer } from '../helpers/server-process';

interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

function get(port: number, path: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** Polls /readyz until its status is `status` (a slow machine may take a few election rounds). */
async function readyzUntil(port: number, status: number, timeoutMs: number): Promise<HttpAnswer> {
  const deadline = Date.now() + timeoutMs;
  let last: HttpAnswer | undefined;
  while (Date.now() < deadline) {
    last = await get(port, '/readyz');
    if (last.status === status) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`/readyz did not answer ${status} within ${timeoutMs} ms; last: ${last?.status} ${last?.body}`);
}

test('one-node server: /healthz, /readyz, and /metrics with request, queue and Raft metrics', { timeout: 60_000 }, async () => {
  const dir = await makeDataDir('opencmq-admin-');
  const adminPort = await freePort();
  const server = await spawnServer(dir.dir, ['--admin-port', String(adminPort), '--metrics-max-queues', '2']);
  try {
    const health = await get(adminPort, '/healthz');
    assert.equal(health.status, 200);
    const ready = await get(adminPort, '/readyz');
    assert.equal(ready.status, 200, ready.body);
    assert.deepEqual(JSON.parse(ready.body), { ready: true, leader: 'n1' });
    assert.equal((await get(adminPort, '/nothing')).status, 404);

    // The CMQ port is untouched: /healthz there is a CMQ request like any other path.
    const cmqHealthz = await cmqCall(server.url.replace(/\/$/, '') + '/healthz', 'ListQueue');
    assert.equal(cmqHealthz.code, 0);

    for (const q of ['qa', 'qb', 'qc']) assert.equal((await cmqCall(server.url, 'CreateQueue', { queueName: q })).code, 0);
    for (let i = 0; i < 3; i++) assert.equal((await cmqCall(server.url, 'SendMessage', { queueName: 'qa', msgBody: `m${i}` })).code, 0);
    assert.equal((await cmqCall(server.url, 'SendMessage', { queueName: 'qc', msgBody: 'x' })).code, 0);
    const missing = await cmqCall(server.url, 'SendMessage', { queueName: 'nope', msgBody: 'x' });
    assert.equal(missing.code, 4440);
    const got = await cmqCall(server.url, 'ReceiveMessage', { queueName: 'qa', pollingWaitSeconds: 0 });
    assert.equal(got.code, 0);

    const metrics = await get(adminPort, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
    const e = parsePromText(metrics.body);
    assert.equal(sampleValue(e, 'opencmq_api_requests_total', { action: 'SendMessage', code: '0' }), 4);
    assert.equal(sampleValue(e, 'opencmq_api_requests_total', { action: 'SendMessage', code: '4440' }), 1);
    assert.equal(sampleValue(e, 'opencmq_api_requests_total', { action: 'CreateQueue', code: '0' }), 3);
    assert.equal(sampleValue(e, 'opencmq_api_request_duration_seconds_count', { action: 'ReceiveMessage' }), 1);
    // The protocol-neutral histogram, wired from the server: outcomes by kind.
    assert.equal(sampleValue(e, 'opencmq_request_duration_seconds_count', { action: 'SendMessage', outcome: 'ok' }), 4);
    assert.equal(sampleValue(e, 'opencmq_request_duration_seconds_count', { action: 'SendMessage', outcome: 'notFound' }), 1);
    assert.equal(sampleValue(e, 'opencmq_messages_sent_total'), 4);
    assert.equal(sampleValue(e, 'opencmq_messages_received_total'), 1);
    // Per-queue gauges, and the cap of 2: qc is summed under _other.
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: 'qa', state: 'visible' }), 2);
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: 'qa', state: 'inflight' }), 1);
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: 'qb', state: 'visible' }), 0);
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: 'qc', state: 'visible' }), undefined);
    assert.equal(sampleValue(e, 'opencmq_queue_messages', { queue: '_other', state: 'visible' }), 1);
    const age = sampleValue(e, 'opencmq_queue_oldest_message_age_seconds', { queue: 'qa' });
    assert.ok(age !== undefined && age >= 0 && age < 600, `oldest age ${age}`);
    // Raft gauges of a one-node set: it leads.
    assert.equal(sampleValue(e, 'opencmq_raft_role', { role: 'leader' }), 1);
    assert.equal(sampleValue(e, 'opencmq_raft_leader', { leader: 'n1' }), 1);
    assert.ok((sampleValue(e, 'opencmq_raft_term') ?? 0) >= 1);
    assert.ok((sampleValue(e, 'opencmq_raft_commit_index') ?? 0) >= 8);
    // It elected itself at start-up (won within one step: still counted).
    assert.ok((sampleValue(e, 'opencmq_raft_elections_total') ?? 0) >= 1);
    assert.ok((sampleValue(e, 'opencmq_raft_leader_changes_total') ?? 0) >= 1);
    assert.equal(sampleValue(e, 'opencmq_ready'), 1);
    assert.equal(sampleValue(e, 'opencmq_disk_stalled'), 0);
    assert.ok((sampleValue(e, 'opencmq_wal_fsync_duration_seconds_count') ?? 0) >= 1);
    assert.ok(e.types.has('process_resident_memory_bytes'));
  } finally {
    await server.stop();
    await dir.cleanup();
  }
});

test('a member whose peers are gone, and a --join node never added, answer /readyz 503 with the reason', { timeout: 120_000 }, async () => {
  const ids = ['n1', 'n2', 'n3'];
  // One batch, so no two of these are the same port.
  const ports = await freePorts([...ids.map((id) => `admin-${id}`), ...ids, 'join-admin', 'join-raft']);
  const adminPorts = Object.fromEntries(ids.map((id) => [id, ports[`admin-${id}`]!]));
  const raftPorts = Object.fromEntries(ids.map((id) => [id, ports[id]!]));
  const set = await startTestSet({ ids, raftPorts, adminPorts });
  const joinDir = await makeDataDir('opencmq-admin-join-');
  let joiner: Awaited<ReturnType<typeof spawnServer>> | undefined;
  try {
    const { leader } = await waitForLeader(set, { timeoutMs: 30_000 });
    for (const id of ids) await readyzUntil(adminPorts[id]!, 200, 20_000);
    const lag = parsePromText((await get(adminPorts[leader]!, '/metrics')).body);
    assert.equal(lag.samples.filter((s) => s.name === 'opencmq_raft_follower_lag_entries').length, 2);

    // A request to a follower runs there and its service calls on the leader: counted as forwarded
    // and by action on the follower, once in the whole set.
    const follower = ids.find((id) => id !== leader)!;
    assert.equal((await cmqCall(set.url(follower), 'CreateQueue', { queueName: 'viafollower' })).code, 0);
    const fm = parsePromText((await get(adminPorts[follower]!, '/metrics')).body);
    assert.ok((sampleValue(fm, 'opencmq_api_forwarded_requests_total') ?? 0) >= 1);
    assert.equal(sampleValue(fm, 'opencmq_api_requests_total', { action: 'CreateQueue', code: '0' }), 1, 'counted where the client sent it');
    let executed = 0;
    for (const id of ids) {
      const m = parsePromText((await get(adminPorts[id]!, '/metrics')).body);
      executed += sampleValue(m, 'opencmq_api_requests_total', { action: 'CreateQueue', code: '0' }) ?? 0;
    }
    assert.equal(executed, 1);

    // A new member started with --join, which nobody adds: not a voter.
    const joinAdmin = ports['join-admin']!;
    const peers = ids.flatMap((id) => ['--peer', `${id}=127.0.0.1:${raftPorts[id]}`]);
    joiner = await spawnServer(joinDir.dir, ['--node-id', 'n4', '--raft-port', String(ports['join-raft']), ...peers, '--cluster-secret', SECRET, '--join', '--admin-port', String(joinAdmin)]);
    const notAdded = await readyzUntil(joinAdmin, 503, 10_000);
    assert.equal((JSON.parse(notAdded.body) as { reason: string }).reason, 'notMember');
    assert.equal((await get(joinAdmin, '/healthz')).status, 200);

    // n1 loses both peers: whatever its role, it soon knows no leader.
    await set.servers.get('n2')!.kill9();
    await set.servers.get('n3')!.kill9();
    const lost = await readyzUntil(adminPorts.n1!, 503, 30_000);
    const body = JSON.parse(lost.body) as { ready: boolean; reason: string; detail: string };
    assert.equal(body.ready, false);
    assert.equal(body.reason, 'noLeader');
    assert.match(body.detail, /no leader/);
    assert.equal((await get(adminPorts.n1!, '/healthz')).status, 200);
    const m = parsePromText((await get(adminPorts.n1!, '/metrics')).body);
    assert.equal(sampleValue(m, 'opencmq_ready'), 0);
    assert.equal(sampleValue(m, 'opencmq_raft_has_leader'), 0);
  } finally {
    await joiner?.stop();
    await joinDir.cleanup();
    await set.close();
  }
});
