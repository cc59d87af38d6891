import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeNodeSnapshot, encodeNodeSnapshot, nodeSnapshotPieces } from '../../src/node/node-snapshot';
import { parseAddress } from '../../src/node/raft-driver';

test('node snapshots keep voters, learned peer addresses and the state machine bytes', () => {
  const sm = new Uint8Array([1, 2, 3, 4]);
  const back = decodeNodeSnapshot(encodeNodeSnapshot({ voters: ['n1', 'n2', 'n4'], addresses: { n4: '10.0.0.4:9704' }, stateMachine: sm }));
  assert.deepEqual(back.voters, ['n1', 'n2', 'n4']);
  assert.deepEqual(back.addresses, { n4: '10.0.0.4:9704' });
  assert.deepEqual([...back.stateMachine], [1, 2, 3, 4]);
});

test('node snapshot pieces are the encoded bytes, the state machine asked for a piece at a time', () => {
  const parts = [new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5, 6])];
  let asked = 0;
  const config = { voters: ['n1', 'n2', 'n3'], addresses: { n3: '10.0.0.3:9703' } };
  const gen = nodeSnapshotPieces(config, { next: () => parts[asked++] });
  const first = gen.next();
  assert.equal(asked, 0, 'nothing is asked of the state machine before its first piece is wanted');
  const rest = [...gen];
  assert.equal(asked, 4);
  const joined = Buffer.concat([first.value as Uint8Array, ...rest]);
  assert.deepEqual(joined, Buffer.from(encodeNodeSnapshot({ ...config, stateMachine: Buffer.concat(parts) })));
  assert.deepEqual([...decodeNodeSnapshot(joined).stateMachine], [1, 2, 3, 4, 5, 6]);
});

test('node snapshots of the first format (a bare voter list) still load', () => {
  const voters = Buffer.from(JSON.stringify(['n1']));
  const buf = Buffer.alloc(8 + voters.length + 2);
  buf.writeUInt32LE(0x4e534e31, 0);
  buf.writeUInt32LE(voters.length, 4);
  voters.copy(buf, 8);
  const back = decodeNodeSnapshot(buf);
  assert.deepEqual(back.voters, ['n1']);
  assert.deepEqual(back.addresses, {});
  assert.equal(back.stateMachine.length, 2);
});

test('peer addresses parse as host:port, IPv6 in brackets', () => {
  assert.deepEqual(parseAddress('10.0.0.4:9704'), { host: '10.0.0.4', port: 9704 });
  assert.deepEqual(parseAddress('[::1]:9704'), { host: '::1', port: 9704 });
  assert.equal(parseAddress('host'), undefined);
  assert.equal(parseAddress('host:0'), undefined);
  assert.equal(parseAddress('host:70000'), undefined);
});
