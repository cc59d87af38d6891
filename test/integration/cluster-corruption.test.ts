// A bit flip in a message body on the leader's disk: the leader detects it (per-body CRC32C),
// reads the intact copy from another replica and delivers that, instead of quarantining an
// acknowledged message that the rest of the set holds intact.

import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';

import { callUntilOk, drainQueue } from '../helpers/load-clients';
import { arrayParams, cmqCall } from '../helpers/raw-cmq';
import { startTestSet, waitCaughtUp, waitForLeader } from '../helpers/cluster';

const MARKER = 'VICTIM-MESSAGE';

async function flipBodyByte(dataDir: string): Promise<void> {
  const walDir = path.join(dataDir, 'wal');
  for (const name of (await readdir(walDir)).sort()) {
    const file = path.join(walDir, name);
    const buf = await readFile(file);
    const at = buf.indexOf(MARKER);
    if (at < 0) continue;
    buf[at + 100] = buf[at + 100]! ^ 0x01;
    await writeFile(file, buf);
    return;
  }
  throw new Error('victim not found in the log');
}

test('a body damaged on the leader is delivered from an intact replica, not quarantined', { timeout: 120_000 }, async () => {
  const set = await startTestSet();
  try {
    await callUntilOk(set.ids.map(set.url), 'CreateQueue', { queueName: 'pay', visibilityTimeout: 60 }, { timeoutMs: 20_000, acceptCodes: [0, 4460] });
    const { leader } = await waitForLeader(set);
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      const b = (i === 5 ? `${MARKER}-${i}.` : `ok-${i}.`).padEnd(1024, 'x');
      sent.push(b);
      assert.equal((await cmqCall(set.url(leader), 'SendMessage', { queueName: 'pay', msgBody: b })).code, 0);
    }
    // Later entries, so the damaged record is not the log's tail (a damaged tail is a torn write).
    const tail = Array.from({ length: 4 }, (_, i) => `tail-${i}.`.padEnd(1024, 'x'));
    sent.push(...tail);
    assert.equal((await cmqCall(set.url(leader), 'BatchSendMessage', { queueName: 'pay', ...arrayParams('msgBody', tail) })).code, 0);
    for (const id of set.ids) await waitCaughtUp(set, id);

    // Stop the leader (it hands over), damage its copy, restart it (bodies now come from disk).
    const victim = set.servers.get(leader)!;
    await victim.stop();
    await flipBodyByte(set.dataDir(leader));
    await set.restart(leader);
    await waitCaughtUp(set, leader);
    // Ask the current leader once every member (the restarted one too) agrees who it is.
    const { leader: current } = await waitForLeader(set);
    const moved = await cmqCall(set.url(current), 'OpencmqTransferLeader', { nodeId: leader });
    assert.equal(moved.code, 0, JSON.stringify(moved));

    const got = await drainQueue({ endpoints: [set.url(leader)], queueName: 'pay', pollingWaitSeconds: 0, emptyReceivesToStop: 1 });
    assert.deepEqual([...got].sort(), [...sent].sort(), 'every acknowledged message delivered intact');
    const out = set.servers.get(leader)!.output();
    assert.match(out, /DAMAGED BODY/, 'recovery found the damage');
    assert.match(out, /local copy damaged, delivered the intact copy from n\d/);
  } finally {
    await set.close();
  }
});
