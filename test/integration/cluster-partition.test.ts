// A partition through a TCP proxy per peer link: the leader is cut off from both followers. The
// majority elects a new leader and keeps serving; the isolated old leader acknowledges nothing;
// after healing it rejoins as a follower, and every acknowledged message is there exactly once;
// no send answered 6100 ("not applied") is ever delivered.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { freePorts, startTestSet } from '../helpers/cluster';
import { answerKey, callUntilOk, cmqRequest, NOT_APPLIED } from '../helpers/load-clients';
import { arrayParams, cmqCall } from '../helpers/raw-cmq';
import { ProxyMesh } from '../helpers/tcp-proxy';

test('an isolated leader acknowledges nothing; the majority serves; healing loses nothing', { timeout: 120_000 }, async () => {
  const ids = ['n1', 'n2', 'n3'];
  const raftPorts = await freePorts(ids);
  const mesh = await ProxyMesh.start(raftPorts);
  const set = await startTestSet({ ids, raftPorts, peerAddress: (from, to) => mesh.addressFor(from, to) });
  try {
    const endpoints = ids.map(set.url);
    await callUntilOk(endpoints, 'CreateQueue', { queueName: 'pay', visibilityTimeout: 60 }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      assert.equal((await cmqCall(endpoints[i % 3]!, 'SendMessage', { queueName: 'pay', msgBody: `before-${i}` })).code, 0);
      acked.push(`before-${i}`);
    }
    const oldLeader = set.leader()!;
    const majority = ids.filter((id) => id !== oldLeader);

    mesh.isolate(oldLeader);
    const cutAt = Date.now();
    // The isolated leader cannot commit: a send through it must not be acknowledged.
    const isolatedSend = await cmqRequest(set.url(oldLeader), 'SendMessage', { queueName: 'pay', msgBody: 'isolated' }, { timeoutMs: 3000 }).catch(
      (err: unknown) => ({ code: -1, message: String(err) }),
    );
    assert.notEqual(isolatedSend.code, 0, `the isolated leader acknowledged a write: ${JSON.stringify(isolatedSend)}`);
    // Bodies of sends answered 6100 ("not applied"): none may ever be delivered. Others that failed may.
    const notApplied: string[] = [];
    const mayExist: string[] = [];
    const answers: string[] = [`isolated: ${isolatedSend.code}`];
    (isolatedSend.code === NOT_APPLIED ? notApplied : mayExist).push('isolated');

    // The majority elects a leader among themselves and keeps serving.
    const t0 = cutAt;
    let served = false;
    let servedMs = -1;
    for (let attempt = 0; !served && Date.now() - t0 < 20_000; attempt++) {
      const body = `majority-${attempt}`;
      const r = await cmqRequest(set.url(majority[0]!), 'SendMessage', { queueName: 'pay', msgBody: body }, { timeoutMs: 3000 }).catch(() => undefined);
      if (r?.code === 0) {
        served = true;
        servedMs = Date.now() - t0;
        acked.push(body);
      } else {
        answers.push(`${body}: ${r === undefined ? 'no answer' : answerKey(r)}`);
        (r?.code === NOT_APPLIED ? notApplied : mayExist).push(body);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    assert.ok(served, 'the majority side accepted a write');
    const newLeader = set.leader()!;
    assert.ok(majority.includes(newLeader), `new leader ${newLeader} is on the majority side`);

    mesh.healAll();
    // The old leader rejoins (as a follower) and serves again through forwarding.
    await callUntilOk([set.url(oldLeader)], 'SendMessage', { queueName: 'pay', msgBody: 'after-heal' }, { timeoutMs: 20_000 });
    acked.push('after-heal');

    const got: string[] = [];
    for (;;) {
      const r = await cmqCall(set.url(oldLeader), 'BatchReceiveMessage', { queueName: 'pay', numOfMsg: 16, pollingWaitSeconds: 1 });
      if (r.code === 7000) break;
      assert.equal(r.code, 0, JSON.stringify(r));
      const list = r.msgInfoList as { msgBody: string; receiptHandle: string }[];
      got.push(...list.map((m) => m.msgBody));
      assert.equal((await cmqCall(set.url(oldLeader), 'BatchDeleteMessage', { queueName: 'pay', ...arrayParams('receiptHandle', list.map((m) => m.receiptHandle)) })).code, 0);
    }
    assert.equal(new Set(got).size, got.length, 'no message delivered twice');
    for (const b of acked) assert.ok(got.includes(b), `acknowledged message ${b} was lost`);
    assert.deepEqual(got.filter((b) => notApplied.includes(b)), [], `a send answered 6100 was applied after all (answers: ${answers.join(', ')})`);
    assert.deepEqual(got.filter((b) => !acked.includes(b) && !mayExist.includes(b)), [], 'nothing unknown delivered');
    console.log(`partition: failed send answers: ${answers.join(', ')}`);
    console.log(`partition: leader ${oldLeader} isolated; first write on the majority side ${servedMs} ms after the cut (after the 3 s isolated attempt); new leader ${newLeader}`);
  } finally {
    await set.close();
    await mesh.close();
  }
});
