// One protocol's batched sends (or receives + deletes) alone against a fresh single node, with
// the node's CPU profile: what `--only sqs-batch-send --cpu-prof` cannot give (it runs the CMQ
// comparison in the same process first). Compare two such profiles per message with the summary
// it prints. Receive + delete (`--receive`) first fills the queue through the same protocol.
//
//   node dist/bench/protocol-profile.js sqs|cmq PROFILE_DIR [--duration S] [--receive]

import path from 'node:path';
import { parseArgs } from 'node:util';

import { startSingleNode } from './bench-servers';
import { summarizeCpuProfile } from './cpu-profile-summary';
import { createQueue, fill, mustOk, receiveDeleteBatch, runFor, sendBatch, Target } from './load';
import { SQS_BATCH, sqsCreateQueue, sqsFill, sqsReceiveDelete, sqsSendBatch, SqsTarget } from './sqs-load';
import { readdir } from 'node:fs/promises';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { duration: { type: 'string', default: '10' }, receive: { type: 'boolean', default: false } } });
  const [protocol, dir] = positionals;
  if ((protocol !== 'sqs' && protocol !== 'cmq') || dir === undefined) throw new Error('usage: protocol-profile.js sqs|cmq PROFILE_DIR [--duration S] [--receive]');
  const durationS = Number(values.duration);
  const servers = await startSingleNode({ fsync: true, apiTls: false, peerTls: false, cpuProfDir: path.resolve(dir), admin: false });
  const node = servers.nodes[0]!;
  let messages = 0;
  let seconds = 0;
  try {
    // Enough for the receives to find messages all along (they run at most about this fast).
    const preload = Math.round(durationS * 60_000);
    if (protocol === 'sqs') {
      const t = new SqsTarget(node.sqsPort!);
      await sqsCreateQueue(t, 'sq');
      if (values.receive) await sqsFill(t, 'sq', preload);
      ({ messages, seconds } = await runFor(t, 32, durationS, (c) => (values.receive ? sqsReceiveDelete(t, c, 'sq') : sqsSendBatch(t, c, 'sq'))));
      t.close();
    } else {
      const t = new Target(node.id, node.port);
      await createQueue(t, 'cq');
      if (values.receive) await fill(t, 'cq', preload);
      const req = sendBatch('cq', SQS_BATCH);
      ({ messages, seconds } = await runFor(t, 32, durationS, async (c) => {
        if (values.receive) return receiveDeleteBatch(t, c, 'cq', SQS_BATCH);
        await mustOk(c, req);
        return SQS_BATCH;
      }));
      t.close();
    }
  } finally {
    await servers.stop();
  }
  const what = values.receive ? 'received and deleted' : 'sent';
  console.log(`${protocol}: ${Math.round(messages / seconds)} msg/s, ${messages} messages ${what} (${SQS_BATCH} per request)`);
  const profDir = path.join(path.resolve(dir), node.id);
  const file = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
  if (file !== undefined) for (const line of summarizeCpuProfile(path.join(profDir, file), 25)) console.log(line);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
