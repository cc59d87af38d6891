// Limits kept in different layers (which may not import each other) that must agree. Each test
// says which way they must relate and why, so changing one side without the other fails here.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NODE_ID_RE } from '../../src/api/admin-actions';
import { FETCH_ENTRIES_MAX } from '../../src/node/raft-driver';
import { RAFT_LIMITS } from '../../src/raft/limits';
import { TRANSPORT_LIMITS } from '../../src/transport/limits';

test('node ids: the admin API admits exactly the ids the transport admits, and the Raft codec carries them all', () => {
  // The transport refuses at start-up an id longer than nodeIdBytesMax bytes; the admin API
  // (OpencmqAddNode and friends) must not accept an id no node can have, nor refuse one it can.
  const longest = 'a'.repeat(TRANSPORT_LIMITS.nodeIdBytesMax);
  assert.ok(NODE_ID_RE.test(longest), `admin API refuses a ${longest.length}-byte id the transport accepts`);
  assert.ok(!NODE_ID_RE.test(longest + 'a'), `admin API accepts a ${longest.length + 1}-byte id the transport refuses`);
  // The API's ids are ASCII, so characters are bytes; the codec must encode and decode every one.
  assert.ok(TRANSPORT_LIMITS.nodeIdBytesMax <= RAFT_LIMITS.nodeIdBytesMax);
});

test('entries per fetch: the driver reads no more than the core asks for', () => {
  // The core asks for at most fetchEntriesMax entries and accepts a prefix; a driver bound above it
  // would never take effect, and a bound of 0 would never make progress.
  assert.ok(FETCH_ENTRIES_MAX >= 1);
  assert.ok(FETCH_ENTRIES_MAX <= RAFT_LIMITS.fetchEntriesMax);
});
