// A queue with one marked "victim" message in the middle of its log, for tests that damage the
// victim's record on disk and check what a start, a read, verify or salvage makes of it.

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import { arrayParams, cmqCall } from './raw-cmq';
import { spawnServer } from './server-process';

/** Found in the victim's body only: locates its record in a segment file. */
export const VICTIM_MARKER = 'VICTIM-MESSAGE-';

function body(tag: string): string {
  return (tag + '.').padEnd(1024, 'x');
}

/** Creates `queue`: 20 single sends (the 11th is the victim), then a batch of 5 so the victim is not the log's tail. */
export async function fillQueueWithVictim(url: string, queue: string): Promise<{ sent: string[]; victim: string; tail: string[] }> {
  assert.equal((await cmqCall(url, 'CreateQueue', { queueName: queue })).code, 0);
  const sent: string[] = [];
  for (let i = 0; i < 20; i++) {
    const b = body(i === 10 ? `${VICTIM_MARKER}${i}` : `ok-${i}`);
    sent.push(b);
    assert.equal((await cmqCall(url, 'SendMessage', { queueName: queue, msgBody: b })).code, 0);
  }
  const tail = Array.from({ length: 5 }, (_, i) => body(`tail-${i}`));
  sent.push(...tail);
  assert.equal((await cmqCall(url, 'BatchSendMessage', { queueName: queue, ...arrayParams('msgBody', tail) })).code, 0);
  return { sent, victim: sent[10]!, tail };
}

/**
 * A data directory whose log holds the victim queue: a server fills it and is then stopped
 * (kill -9 by default, or a clean stop). Returns what fillQueueWithVictim sent.
 */
export async function victimLogOnDisk(
  dataDir: string,
  queue: string,
  stop: 'kill -9' | 'clean stop' = 'kill -9',
): Promise<{ sent: string[]; victim: string; tail: string[] }> {
  const server = await spawnServer(dataDir);
  try {
    const filled = await fillQueueWithVictim(server.url, queue);
    if (stop === 'kill -9') await server.kill9();
    else await server.stop();
    return filled;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** The WAL segment holding the victim: its path, its bytes, and the victim body's offset in them. */
export async function segmentWithVictim(dataDir: string): Promise<{ file: string; buf: Buffer; at: number }> {
  const walDir = path.join(dataDir, 'wal');
  for (const name of (await readdir(walDir)).sort()) {
    const file = path.join(walDir, name);
    const buf = await readFile(file);
    const at = buf.indexOf(VICTIM_MARKER);
    if (at >= 0) return { file, buf, at };
  }
  throw new Error('the victim message is in no segment');
}
