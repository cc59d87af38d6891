// FIFO semantics across failover: producers send numbered messages in several message groups
// through the SQS API of every member of a 3-node set (each retrying a failed send with the same
// MessageDeduplicationId, on the next member), a consumer receives and deletes through the SQS
// API, and the leader is killed with kill -9 mid-run. Afterwards: within each group, messages are
// first delivered in send order without a gap, every answer holds a group's messages in order, a
// message whose delete was confirmed never comes back (one whose delete was lost in the failover
// comes back, with those after it, as SQS says), every acknowledged message is delivered, and no
// message was stored twice (each arrives under one MessageId, whatever the retries): order and
// deduplication are decided in the replicated state machine. So is a receive's attempt id: a
// receive answered before the kill, retried after it on another member with its
// ReceiveRequestAttemptId, gets the same message under the same receipt handle.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

import { freePorts, waitForLeader, withTestSet } from '../helpers/cluster';
import { sqsClient } from '../helpers/sqs-every-action';

const GROUPS = 4;
const VISIBILITY_S = 2;
const QUEUE = 'payments.fifo';

/** Clients of every member; a call that fails moves on to the next member and tries again. */
class Rotating {
  private at = 0;
  constructor(private readonly clients: SQSClient[]) {}

  async send<T>(make: (c: SQSClient) => Promise<T>, stopAt: number): Promise<T | undefined> {
    for (;;) {
      try {
        return await make(this.clients[this.at % this.clients.length]!);
      } catch {
        this.at++;
        if (Date.now() > stopAt) return undefined;
        await sleep(50);
      }
    }
  }
}

test('FIFO across kill -9 of the leader: order within each group, no duplicate, nothing acknowledged lost', { timeout: 120_000 }, async () => {
  const sqsPorts = await freePorts(['n1', 'n2', 'n3']);
  await withTestSet({ sqsPorts }, async (set) => {
    const { leader } = await waitForLeader(set);
    // One client per member (none retries by itself: Rotating moves on to another member).
    const clients = set.ids.map((id) => sqsClient(`http://127.0.0.1:${sqsPorts[id]}`, undefined, 1));
    set.onClose(() => {
      for (const c of clients) c.destroy();
      return Promise.resolve();
    });
    const rotate = new Rotating(clients);
    const url = (await rotate.send((c) => c.send(new CreateQueueCommand({ QueueName: QUEUE, Attributes: { FifoQueue: 'true', VisibilityTimeout: String(VISIBILITY_S) } })), Date.now() + 20_000))!.QueueUrl!;

    let producing = true;
    const acked: string[][] = Array.from({ length: GROUPS }, () => []);
    const producers = Array.from({ length: GROUPS }, async (_, g) => {
      const group = new Rotating([...clients.slice(g % clients.length), ...clients.slice(0, g % clients.length)]);
      for (let seq = 0; producing; seq++) {
        const body = `${g}:${seq}`;
        // The same deduplication id on every retry: a send applied before the answer was lost is not stored again.
        const r = await group.send((c) => c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageGroupId: `g${g}`, MessageDeduplicationId: `m-${body}` })), Date.now() + 30_000);
        if (r === undefined) break;
        acked[g]!.push(body);
      }
    });

    /** Per group, the sequence numbers in delivery order; per message, the MessageIds it came under. */
    const delivered: number[][] = Array.from({ length: GROUPS }, () => []);
    const idsOf = new Map<string, Set<string>>();
    /** Bodies whose delete the service confirmed, and the failures of the properties above. */
    const deleted = new Set<string>();
    const violations: string[] = [];
    let consuming = true;
    const consumerRotate = new Rotating(clients);
    const consumer = (async () => {
      while (consuming) {
        const r = await consumerRotate.send(
          (c) => c.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['MessageGroupId'] })),
          Date.now() + 30_000,
        );
        const messages = r?.Messages ?? [];
        if (messages.length === 0) continue;
        const inAnswer = new Map<number, number[]>();
        for (const m of messages) {
          const [g, seq] = m.Body!.split(':').map(Number) as [number, number];
          if (deleted.has(m.Body!)) violations.push(`${m.Body} delivered again after its delete was confirmed`);
          delivered[g]!.push(seq);
          inAnswer.set(g, [...(inAnswer.get(g) ?? []), seq]);
          const ids = idsOf.get(m.Body!) ?? new Set<string>();
          ids.add(m.MessageId!);
          idsOf.set(m.Body!, ids);
        }
        for (const [g, seqs] of inAnswer) {
          if (seqs.some((s, i) => i > 0 && s !== seqs[i - 1]! + 1)) violations.push(`group ${g} answered out of order: ${seqs.join(',')}`);
        }
        // A delete lost in the failover is no error: the messages come back after their
        // visibility timeout, before anything later of their group.
        const d = await consumerRotate
          .send((c) => c.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })) })), Date.now() + 5_000)
          .catch(() => undefined);
        if (d !== undefined && (d.Failed?.length ?? 0) === 0) for (const m of messages) deleted.add(m.Body!);
      }
    })();

    // A receive through the leader whose answer is taken as lost: its retry after the failover,
    // on another member, gets the same message under the same receipt handle.
    const attemptUrl = (await rotate.send((c) => c.send(new CreateQueueCommand({ QueueName: 'attempts.fifo', Attributes: { FifoQueue: 'true', VisibilityTimeout: '120' } })), Date.now() + 20_000))!.QueueUrl!;
    await rotate.send((c) => c.send(new SendMessageCommand({ QueueUrl: attemptUrl, MessageBody: 'kept', MessageGroupId: 'k', MessageDeduplicationId: 'kept' })), Date.now() + 20_000);
    const attempt = (c: SQSClient) => c.send(new ReceiveMessageCommand({ QueueUrl: attemptUrl, MaxNumberOfMessages: 10, ReceiveRequestAttemptId: 'before-the-kill' }));
    const before = (await attempt(clients[set.ids.indexOf(leader)]!)).Messages ?? [];

    await sleep(3000);
    await set.servers.get(leader)!.kill9();
    console.log(`fifo-failover: leader ${leader} killed with kill -9`);
    await sleep(5000);
    const survivors = new Rotating(clients.filter((_, i) => set.ids[i] !== leader));
    const after = (await survivors.send(attempt, Date.now() + 30_000))?.Messages ?? [];
    producing = false;
    await Promise.all(producers);
    // Drain: until every acknowledged message came, or nothing new for a while.
    const want = acked.flat();
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && !want.every((b) => idsOf.has(b))) await sleep(250);
    consuming = false;
    await consumer;

    // Checked once the producers and the consumer have stopped, so that a failure ends the test.
    assert.deepEqual(
      before.map((m) => m.Body),
      ['kept'],
    );
    assert.deepEqual(
      after.map((m) => [m.MessageId, m.ReceiptHandle, m.Body]),
      before.map((m) => [m.MessageId, m.ReceiptHandle, m.Body]),
      'the retried attempt gets the same message and receipt handle from the new leader',
    );
    const lost = want.filter((b) => !idsOf.has(b));
    assert.deepEqual(lost, [], 'every acknowledged message was delivered');
    const storedTwice = [...idsOf].filter(([, ids]) => ids.size > 1).map(([b]) => b);
    assert.deepEqual(storedTwice, [], 'no message was stored twice (one MessageId each, whatever the retries)');
    assert.deepEqual(violations, []);
    for (let g = 0; g < GROUPS; g++) {
      // First deliveries in send order, nothing skipped: the distinct deliveries of a group are 0..n-1 in order.
      const distinct = [...new Set(delivered[g])];
      assert.deepEqual(distinct, distinct.map((_, i) => i), `group ${g} first delivered in send order without gaps`);
    }
    const redeliveries = delivered.reduce((n, s) => n + s.length - new Set(s).size, 0);
    console.log(`fifo-failover: ${want.length} messages acknowledged in ${GROUPS} groups, all delivered in order; ${redeliveries} redeliveries (deletes lost in the failover), 0 stored twice`);
  });
});
