// `opencmq wal verify` and `opencmq wal salvage` on a data directory written by a real server and
// then damaged as the corruption tests do: verify reports it (exit code and JSON), salvage copies
// what is readable without touching the original, and a server started on the copy serves every
// message that survived.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';

import { drainBodiesPastDamage } from '../helpers/raw-cmq';
import { makeDataDir, runServerExpectingExit, spawnServer, type ServerProcess } from '../helpers/server-process';
import { fillQueueWithVictim, segmentWithVictim, victimLogOnDisk } from '../helpers/victim-queue';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const QUEUE = 'salvageq';
/** Flips a byte of the victim's body (40 bytes into it). */
async function flipBody(dataDir: string): Promise<void> {
  const { file, buf, at } = await segmentWithVictim(dataDir);
  buf[at + 40] = buf[at + 40]! ^ 0x5a;
  await writeFile(file, buf);
}

/** Flips a byte of the queue name in the victim record's meta, which the header checksum covers. */
async function flipMeta(dataDir: string): Promise<void> {
  const { file, buf, at } = await segmentWithVictim(dataDir);
  const target = buf.lastIndexOf(QUEUE, at);
  assert.ok(target >= 0);
  buf[target + 1] = buf[target + 1]! ^ 0x5a;
  await writeFile(file, buf);
}

/** Cuts the last segment in the middle of the final batch's last body: a torn final write. */
async function truncateInTail(dataDir: string): Promise<void> {
  const walDir = path.join(dataDir, 'wal');
  const names = (await readdir(walDir)).filter((n) => n.endsWith('.wal')).sort();
  const file = path.join(walDir, names[names.length - 1]!);
  const buf = await readFile(file);
  const at = buf.lastIndexOf('tail-4.');
  assert.ok(at >= 0);
  await truncate(file, at + 100);
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

async function verifyJson(dir: string): Promise<{ code: number | null; report: Record<string, unknown> & { verdict: string } }> {
  const r = await runCli(['wal', 'verify', dir, '--json']);
  assert.equal(r.stderr, '', r.stderr);
  return { code: r.code, report: JSON.parse(r.stdout) as Record<string, unknown> & { verdict: string } };
}

/** A digest of every file under `dir` (names, sizes, contents): proves the tools changed nothing. */
async function treeDigest(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = path.join(d, name);
      if ((await stat(p)).isDirectory()) await walk(p);
      else h.update(`${path.relative(dir, p)}\0`).update(await readFile(p));
    }
  };
  await walk(dir);
  return h.digest('hex');
}

/** Salvages `dir` into a new directory, starts a server there and returns what it delivers. */
async function salvageAndServe(dir: string, expectCode: number): Promise<{ got: string[]; report: Record<string, unknown>; outDir: string }> {
  const outDir = path.join(dir + '-salvaged');
  await mkdir(outDir); // an empty directory is accepted
  const before = await treeDigest(dir);
  const r = await runCli(['wal', 'salvage', dir, '--out', outDir, '--segment-mb', '4', '--json']);
  assert.equal(r.code, expectCode, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(await treeDigest(dir), before, 'salvage must not modify the source directory');
  const v = await verifyJson(outDir);
  assert.notEqual(v.report.verdict, 'refuse', 'the salvaged directory starts');
  let server: ServerProcess | undefined;
  try {
    server = await spawnServer(outDir);
    return { got: await drainBodiesPastDamage(server.url, QUEUE), report, outDir };
  } finally {
    await server?.stop();
  }
}

test('wal verify on an undamaged directory: exit 0, every segment listed; a non-data dir is exit 1, no args exit 2', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let server: ServerProcess | undefined;
  try {
    await victimLogOnDisk(dir, QUEUE);
    const before = await treeDigest(dir);
    const { code, report } = await verifyJson(dir);
    assert.equal(code, 0);
    assert.equal(report.verdict, 'start');
    const segments = report.segments as { file: string; status: string; entries: number; firstIndex: number; lastIndex: number }[];
    assert.ok(segments.length >= 1);
    assert.ok(segments.every((s) => s.status === 'ok'));
    assert.ok(segments[segments.length - 1]!.lastIndex >= 22, JSON.stringify(segments));
    assert.equal(await treeDigest(dir), before, 'verify must not modify the directory');
    const human = await runCli(['wal', 'verify', dir]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /verdict: start/);
    assert.match(human.stdout, /00000000000000000001\.wal/);
    assert.equal((await runCli(['wal', 'verify', path.join(dir, 'wal')])).code, 1);
    assert.equal((await runCli(['wal', 'verify'])).code, 2);
    assert.equal((await runCli(['wal', 'salvage', dir])).code, 2, '--out is required');
  } finally {
    await server?.stop();
    await cleanup();
  }
});

test('wal verify and salvage refuse a data directory that a running server holds, naming it', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let server: ServerProcess | undefined;
  try {
    server = await spawnServer(dir);
    await fillQueueWithVictim(server.url, QUEUE);
    for (const args of [['wal', 'verify', dir], ['wal', 'salvage', dir, '--out', path.join(path.dirname(dir), `${path.basename(dir)}-out`)]]) {
      const r = await runCli(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /is in use by opencmq pid \d+/);
    }
    await server.stop();
    server = undefined;
    assert.equal((await runCli(['wal', 'verify', dir])).code, 0, 'after a clean stop verify runs');
  } finally {
    await server?.stop();
    await cleanup();
  }
});

test('a damaged body: verify exit 3 names the message; salvage copies it and the rest is served', { timeout: 90_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let server: ServerProcess | undefined;
  try {
    const { sent, victim } = await victimLogOnDisk(dir, QUEUE);
    await flipBody(dir);
    const { code, report } = await verifyJson(dir);
    assert.equal(code, 3);
    assert.equal(report.verdict, 'quarantine-damaged-bodies');
    const bodies = report.damagedBodies as { index: number; command: string; target: string; damagedMsgIds: string[] }[];
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0]!.command, 'sendMessages');
    assert.equal(bodies[0]!.target, `queue ${QUEUE}`);
    assert.deepEqual(bodies[0]!.damagedMsgIds, [String(bodies[0]!.index * 16)]);
    assert.deepEqual(report.headerDamage, []);

    const { got, report: salvage, outDir } = await salvageAndServe(dir, 3);
    assert.equal((salvage.damagedBodiesCopied as unknown[]).length, 1);
    assert.deepEqual(salvage.replacedByNoop, []);
    assert.ok(!got.includes(victim), 'the damaged body is never delivered');
    assert.deepEqual(new Set(got), new Set(sent.filter((b) => b !== victim)));
    await cleanupDir(outDir);
  } finally {
    await server?.stop();
    await cleanup();
  }
});

for (const stopKind of ['kill -9', 'clean stop'] as const) {
  test(`damaged record meta (${stopKind}): a start refuses, verify exit 4, salvage replaces the entry by a no-op and the rest is served`, { timeout: 90_000 }, async () => {
    const { dir, cleanup } = await makeDataDir();
    let server: ServerProcess | undefined;
    try {
      const { sent, victim } = await victimLogOnDisk(dir, QUEUE, stopKind);
      await flipMeta(dir);
      const refused = await runServerExpectingExit(dir);
      assert.notEqual(refused.code, 0);
      assert.match(refused.output, /CORRUPTION/);

      const { code, report } = await verifyJson(dir);
      assert.equal(code, 4);
      assert.equal(report.verdict, 'refuse');
      assert.match(String(report.startError), /damaged at offset/);
      const damage = report.headerDamage as { firstIndex: number; lastIndex: number; losesEntries: boolean; blocksStart: boolean; probably?: { command: string; msgIds: string[] } }[];
      assert.equal(damage.length, 1, JSON.stringify(damage));
      assert.equal(damage[0]!.firstIndex, damage[0]!.lastIndex, 'exactly one entry is unreadable');
      assert.ok(damage[0]!.blocksStart && damage[0]!.losesEntries);
      // Read as if intact, the record is a send of one message: the msgId lost.
      assert.equal(damage[0]!.probably?.command, 'sendMessages');
      assert.deepEqual(damage[0]!.probably?.msgIds, [String(damage[0]!.firstIndex * 16)]);
      const human = await runCli(['wal', 'verify', dir]);
      assert.equal(human.code, 4);
      assert.match(human.stdout, /REFUSES/);
      assert.match(human.stdout, new RegExp(`entry ${damage[0]!.firstIndex}\\b`));

      const { got, report: salvage, outDir } = await salvageAndServe(dir, 3);
      const noops = salvage.replacedByNoop as { index: number; termKnown: boolean }[];
      assert.deepEqual(noops.map((n) => n.index), [damage[0]!.firstIndex]);
      assert.ok(noops[0]!.termKnown, 'the neighbours share the term');
      assert.ok(!got.includes(victim), 'the unreadable entry carried the victim');
      assert.deepEqual(new Set(got), new Set(sent.filter((b) => b !== victim)), 'every other message survives');
      assert.equal(got.length, sent.length - 1, 'delivered once each');
      if (stopKind === 'clean stop') {
        // The shutdown snapshot holds the victim message, whose body lived in the lost entry.
        assert.deepEqual(salvage.liveBodyEntriesLost, [damage[0]!.firstIndex]);
      }
      await cleanupDir(outDir);
    } finally {
      await server?.stop();
      await cleanup();
    }
  });
}

test('a cut-off final write: verify exit 0 (drop-torn-tail), salvage leaves the torn batch out', { timeout: 90_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let server: ServerProcess | undefined;
  try {
    const { sent, tail } = await victimLogOnDisk(dir, QUEUE);
    await truncateInTail(dir);
    const { code, report } = await verifyJson(dir);
    assert.equal(code, 0);
    assert.equal(report.verdict, 'drop-torn-tail');
    const torn = report.tornTail as { bytes: number } | null;
    assert.ok(torn && torn.bytes > 0);
    const { got, report: salvage, outDir } = await salvageAndServe(dir, 0);
    assert.ok(salvage.droppedTail !== null);
    // The batch send was one entry: cut, it is left out whole, as a start would drop it.
    assert.deepEqual(new Set(got), new Set(sent.filter((b) => !tail.includes(b))));
    await cleanupDir(outDir);
  } finally {
    await server?.stop();
    await cleanup();
  }
});

test('wal salvage refuses a non-empty --out and an --out inside the source', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await makeDataDir();
  let server: ServerProcess | undefined;
  try {
    server = await spawnServer(dir);
    await server.stop();
    server = undefined;
    const out = dir + '-busy';
    await mkdir(out);
    await writeFile(path.join(out, 'x'), 'x');
    const r = await runCli(['wal', 'salvage', dir, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not empty/);
    const inside = await runCli(['wal', 'salvage', dir, '--out', path.join(dir, 'copy')]);
    assert.equal(inside.code, 1);
    assert.match(inside.stderr, /outside/);
    await cleanupDir(out);
  } finally {
    await server?.stop();
    await cleanup();
  }
});

async function cleanupDir(d: string): Promise<void> {
  const { rm } = await import('node:fs/promises');
  await rm(d, { recursive: true, force: true });
}
