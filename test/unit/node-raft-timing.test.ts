// Raft's timeouts and what must agree with them (src/node/raft-timing.ts), and the server flags
// that set them.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UsageError } from '../../src/cli/cli-io';
import { serverOptionsFrom } from '../../src/cli/commands';
import { DEFAULT_RAFT_TIMING, peerRequestTiming, RAFT_TIMING_DEFAULTS, raftTiming, type RaftTiming } from '../../src/node/raft-timing';
import { stallStepDownMs } from '../../src/node/stall-step-down';

const io = { env: {}, err: () => undefined };
const SET = { 'node-id': 'n1', peer: ['n2=127.0.0.1:9702', 'n3=127.0.0.1:9703'], 'raft-port': '9701', 'cluster-secret': 'a-secret-of-16-bytes-or-more' };

function timing(h?: number, e?: number): RaftTiming {
  const t = raftTiming(h, e);
  assert.ok(typeof t !== 'string', t as string);
  return t;
}

/** The sentence a refused setting gets. */
function refusal(t: RaftTiming | string): string {
  assert.equal(typeof t, 'string', 'refused');
  return t as string;
}

test('the defaults: heartbeats every 100 ms, elections after 400-800 ms of silence, on 50 ms ticks', () => {
  assert.deepEqual(DEFAULT_RAFT_TIMING, { heartbeatMs: 100, electionTimeoutMs: 400, tickMs: 50, heartbeatTicks: 2, electionTicks: 8 });
  assert.equal(RAFT_TIMING_DEFAULTS.heartbeatMs, DEFAULT_RAFT_TIMING.heartbeatMs);
});

test('the tick is the largest common divisor up to 50 ms, so both timeouts are whole ticks', () => {
  for (const [h, e] of [[100, 400], [75, 300], [30, 150], [200, 1000], [10, 50], [1000, 60_000]] as const) {
    const t = timing(h, e);
    assert.ok(t.tickMs <= 50 && t.tickMs >= 5, `${h}/${e}: tick ${t.tickMs}`);
    assert.equal(t.heartbeatTicks * t.tickMs, h);
    assert.equal(t.electionTicks * t.tickMs, e);
  }
  assert.equal(timing(75, 300).tickMs, 25);
});

test('settings that cannot work are refused with a sentence naming the flag', () => {
  assert.match(refusal(raftTiming(100, 250)), /--election-timeout-ms \(250\) must be at least 3 × --heartbeat-ms \(100\)/);
  assert.match(refusal(raftTiming(5, 400)), /--heartbeat-ms must be a whole number of ms from 10/);
  assert.match(refusal(raftTiming(100, 40)), /--election-timeout-ms must be a whole number of ms from 50/);
  assert.match(refusal(raftTiming(100.5, 400)), /--heartbeat-ms/);
  assert.match(refusal(raftTiming(13, 401)), /share a divisor of at least 5 ms/);
});

test('failure detection follows the timeouts: a leader silent for three heartbeats, never longer than an election timeout', () => {
  assert.deepEqual(peerRequestTiming(DEFAULT_RAFT_TIMING), { silenceMs: 300, echoAfterMs: 300, echoTimeoutMs: 300 });
  const slow = peerRequestTiming(timing(200, 1000));
  assert.equal(slow.silenceMs, 600);
  assert.ok(peerRequestTiming(timing(100, 300)).silenceMs <= 300);
  // A full leader hands over before an election would have replaced it.
  assert.equal(stallStepDownMs(400), 200);
  assert.equal(stallStepDownMs(1000), 250);
});

test('server flags: --heartbeat-ms and --election-timeout-ms reach the cluster options; bad ones are usage errors', () => {
  const opts = serverOptionsFrom({ ...SET, 'heartbeat-ms': '50', 'election-timeout-ms': '300' }, io);
  assert.equal(opts.cluster?.heartbeatMs, 50);
  assert.equal(opts.cluster?.electionTimeoutMs, 300);
  const plain = serverOptionsFrom(SET, io);
  assert.equal(plain.cluster?.heartbeatMs, undefined, 'unset: the defaults apply');
  assert.throws(() => serverOptionsFrom({ ...SET, 'heartbeat-ms': '200', 'election-timeout-ms': '400' }, io), /at least 3 ×/);
  assert.throws(() => serverOptionsFrom({ ...SET, 'election-timeout-ms': 'soon' }, io), UsageError);
  assert.throws(() => serverOptionsFrom({ 'heartbeat-ms': '100' }, io), /applies to a replicated set/);
});
