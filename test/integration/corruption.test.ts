// Bit flips in the log: a damaged body is detected by its checksum, reported, and never delivered;
// a damaged record header in the middle of the log stops start-up instead of losing entries.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';

import { cmqCall, drainBodiesPastDamage } from '../helpers/raw-cmq';
import { makeDataDir, runServerExpectingExit, spawnServer, type ServerProcess } from '../helpers/server-process';
import { segmentWithVictim, VICTIM_MARKER, victimLogOnDisk } from '../helpers/victim-queue';

const QUEUE = 'corruptq';

/** Flip one byte at `delta` from the first occurrence of `needle` after (or, `before`, before) the victim. */
async function flipInWal(dataDir: string, needle: string, delta: number, before = false): Promise<void> {
  const { file, buf, at } = await segmentWithVictim(dataDir);
  const target = before ? buf.lastIndexOf(needle, at) : buf.indexOf(needle, at);
  assert.ok(target >= 0, `found ${needle}`);
  buf[target + delta] = buf[target + delta]! ^ 0x5a;
  await writeFile(file, buf);
}

for (const stopKind of ['clean stop', 'kill -9'] as const) {
  test(`a flipped body byte is detected and never delivered (${stopKind})`, { timeout: 60_000 }, async () => {
    const { dir, cleanup } = await makeDataDir();
    let server: ServerProcess | undefined;
    try {
      const { sent } = await victimLogOnDisk(dir, QUEUE, stopKind);
      await flipInWal(dir, VICTIM_MARKER, 40);
      server = await spawnServer(dir);
      const got = await drainBodiesPastDamage(server.url, QUEUE);
      const victim = sent.find((b) => b.startsWith(VICTIM_MARKER))!;
      assert.ok(!got.some((b) => b.includes('VICTIM')), 'damaged body must not be delivered');
      assert.deepEqual(new Set(got), new Set(sent.filter((b) => b !== victim)), 'every intact message is delivered');
      assert.match(server.output(), /CORRUPTION/);
      // Quarantined for good: it does not come back after its visibility timeout either.
      const attrs = await cmqCall(server.url, 'GetQueueAttributes', { queueName: QUEUE });
      assert.equal((attrs.activeMsgNum as number) + (attrs.inactiveMsgNum as number), sent.length - 1);
    } finally {
      await server?.stop();
      await cleanup();
    }
  });
}

test('a damaged record header in mid-log stops start-up with a clear error', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let server: ServerProcess | undefined;
  try {
    await victimLogOnDisk(dir, QUEUE);
    // The queue name sits in the meta part of the victim's record, which the header checksum covers.
    await flipInWal(dir, QUEUE, 1, true);
    const { code, output } = await runServerExpectingExit(dir);
    assert.notEqual(code, 0);
    assert.match(output, /corrupt/i);
  } finally {
    await server?.stop();
    await cleanup();
  }
});
