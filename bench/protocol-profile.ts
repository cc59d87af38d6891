// One protocol's batched sends alone against a fresh single node, with the node's CPU profile:
// what `--only sqs-batch-send --cpu-prof` cannot give (it runs the CMQ comparison in the same
// process first). Compare two such profiles per message with the summary it prints.
//
//   node dist/bench/protocol-profile.js sqs|cmq PROFILE_DIR [--duration S]

import path from 'node:path';
import { parseArgs } from 'node:util';

import { startSingleNode } from './bench-servers';
import { summarizeCpuProfile } from './cpu-profile-summary';
import { createQueue, mustOk, runFor, sendBatch, Target } from './load';
import { SQS_BATCH, sqsCreateQueue, sqsSendBatch, SqsTarget } from './sqs-load';
import { readdir } from 'node:fs/promises';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { duration: { type: 'string', default: '10' } } });
  const [protocol, dir] = positionals;
  if ((protocol !== 'sqs' && protocol !== 'cmq') || dir === undefined) throw new Error('usage: protocol-profile.js sqs|cmq PROFILE_DIR [--duration S]');
  const durationS = Number(values.duration);
  const servers = await startSingleNode({ fsync: true, apiTls: false, peerTls: false, cpuProfDir: path.resolve(dir), admin: false });
  const node = servers.nodes[0]!;
  let messages = 0;
  let seconds = 0;
  try {
    if (protocol === 'sqs') {
      const t = new SqsTarget(node.sqsPort!);
      await sqsCreateQueue(t, 'sq');
      ({ messages, seconds } = await runFor(t, 32, durationS, (c) => sqsSendBatch(t, c, 'sq')));
      t.close();
    } else {
      const t = new Target(node.id, node.port);
      await createQueue(t, 'cq');
      const req = sendBatch('cq', SQS_BATCH);
      ({ messages, seconds } = await runFor(t, 32, durationS, async (c) => {
        await mustOk(c, req);
        return SQS_BATCH;
      }));
      t.close();
    }
  } finally {
    await servers.stop();
  }
  console.log(`${protocol}: ${Math.round(messages / seconds)} msg/s, ${messages} messages (${SQS_BATCH} per request)`);
  const profDir = path.join(path.resolve(dir), node.id);
  const file = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
  if (file !== undefined) for (const line of summarizeCpuProfile(path.join(profDir, file), 25)) console.log(line);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
