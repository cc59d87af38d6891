// Public ids name the Raft group that issued them: group 0 issues exactly the ids it always did
// (so existing data directories and handles stay valid), other groups never collide with it or
// with each other, and a receipt handle is accepted only by the group that issued it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand } from '../../src/broker/codec';
import type { Command, CommandResult } from '../../src/broker/commands';
import { GroupIds, msgIdOf } from '../../src/broker/ids';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { RECEIPT_HANDLE_RE } from '../../src/protocol/names';

const T0 = 1_700_000_000_000;

/** Applies the same commands to a fresh state machine of `group`; returns every result. */
function run(group: number, sm = new QueueStateMachine(new GroupIds(group))): { sm: QueueStateMachine; results: CommandResult[] } {
  const commands: Command[] = [
    { kind: 'createQueue', queueName: 'q', attrs: {} },
    { kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('a'), Buffer.from('b')] },
    { kind: 'receiveMessages', queueName: 'q', numOfMsg: 2, seed: 7 },
    { kind: 'createTopic', topicName: 't', maxMsgSize: 65536, filterType: 1 },
    { kind: 'subscribe', topicName: 't', subscriptionName: 's', protocol: 'queue', endpoint: 'q', notifyStrategy: 'BACKOFF_RETRY', notifyContentFormat: 'SIMPLIFIED', filterTags: [], bindingKeys: [] },
    { kind: 'publishMessages', topicName: 't', bodies: [Buffer.from('p')], msgTags: [], routingKey: '' },
  ];
  const results = commands.map((c, i) => {
    const { payload, metaLen } = encodeCommand(c);
    return sm.apply(i + 1, T0 + i, payload, metaLen);
  });
  return { sm, results };
}

function idsOf(results: CommandResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    assert.ok(r.ok, JSON.stringify(r));
    if (r.kind === 'createQueue') out.push(r.queueId);
    if (r.kind === 'sendMessages' || r.kind === 'publishMessages') out.push(...r.msgIds);
    if (r.kind === 'receiveMessages') for (const m of r.messages) out.push(m.msgId, m.receiptHandle);
    if (r.kind === 'createTopic') out.push(r.topicId);
    if (r.kind === 'subscribe') out.push(r.subscriptionId);
  }
  return out;
}

test('group 0 issues the ids it always did: no group marker', () => {
  const ids = idsOf(run(0).results);
  assert.equal(ids[0], 'queue-1');
  assert.deepEqual(ids.slice(1, 3), ['32', '33']);
  assert.equal(ids[3], '32');
  assert.match(ids[4]!, /^1-0-1-\d+$/);
  assert.ok(ids.includes('topic-4') && ids.includes('subsc-5') && ids.includes('96'), ids.join(' '));
  assert.equal(new QueueStateMachine().group, 0, 'the default group is 0');
  assert.equal(msgIdOf(2, 0), '32');
});

test('ids of different groups never collide, and each names its group', () => {
  const all = [0, 1, 7, 4_000_000_000].map((g) => idsOf(run(g).results));
  // Within a group an id repeats where it should (a received message keeps its msgId); across groups none does.
  const perGroup = all.map((ids) => [...new Set(ids)]);
  const flat = perGroup.flat();
  assert.equal(new Set(flat).size, flat.length, 'no id is issued by two groups');
  for (const id of all[2]!) assert.ok(id.startsWith('g7:'), id);
  for (const ids of all) for (const id of ids) if (/^(g\d+:)?\d+-\d+-\d+-\d+$/.test(id)) assert.match(id, RECEIPT_HANDLE_RE);
});

test('a receipt handle is accepted only by the group that issued it', () => {
  const g0 = run(0);
  const g3 = run(3);
  const handle = (r: CommandResult[]): string => {
    const rec = r[2]!;
    assert.ok(rec.ok && rec.kind === 'receiveMessages');
    return rec.messages[0]!.receiptHandle;
  };
  const del = (sm: QueueStateMachine, h: string, index: number): CommandResult => {
    const { payload, metaLen } = encodeCommand({ kind: 'deleteMessages', queueName: 'q', receiptHandles: [h] });
    return sm.apply(index, T0 + index, payload, metaLen);
  };
  // Same queue number, seq, dequeue count and seed in both groups: only the group tells them apart.
  assert.equal(handle(g3.results), `g3:${handle(g0.results)}`);
  const wrong = del(g0.sm, handle(g3.results), 7);
  assert.ok(wrong.ok && wrong.kind === 'deleteMessages' && wrong.failures.length === 1, JSON.stringify(wrong));
  const wrongBack = del(g3.sm, handle(g0.results), 7);
  assert.ok(wrongBack.ok && wrongBack.kind === 'deleteMessages' && wrongBack.failures.length === 1);
  const right = del(g3.sm, handle(g3.results), 8);
  assert.ok(right.ok && right.kind === 'deleteMessages' && right.failures.length === 0, JSON.stringify(right));
});

test('a restored state machine keeps issuing its group\'s ids', () => {
  const { sm } = run(5);
  const restored = QueueStateMachine.restore(sm.snapshot(), new GroupIds(5));
  assert.equal(restored.group, 5);
  const { payload, metaLen } = encodeCommand({ kind: 'sendMessages', queueName: 'q', delaySeconds: 0, bodies: [Buffer.from('c')] });
  const r = restored.apply(7, T0 + 7, payload, metaLen);
  assert.ok(r.ok && r.kind === 'sendMessages');
  assert.deepEqual(r.msgIds, ['g5:112']);
  assert.throws(() => new GroupIds(-1), RangeError);
});
