// Does the disk settle near the live data after a burst that leaves a few messages behind?
// One fixed workload, on a single node and on a 3-node set, with and without rewind:
//
//   npm run bench:compaction -- [--only single,set,single-rewind,set-rewind] [--light-s S] [--no-fsync]
//
// Servers run with `--segment-mb 4 --snapshot-every 2000` (and compaction at its default). Then:
// 40,000 1 KiB messages go to queue `wa` (15-day retention, 12-hour visibility timeout; with
// -rewind also rewindSeconds 60), all are received and all but every 100th deleted (the 400
// others stay in flight); 20,000 more are sent to queue `wb` and received and deleted; then light
// traffic (a send, a receive and a delete on `wb` every 200 ms) for --light-s seconds (default 90)
// while every member's data directory is measured every 5 s.
//
// Live data: the 400 in-flight bodies; with rewind also the 39,600 deleted ones while the 60 s
// rewind window keeps them (the light traffic then lasts at least 150 s, so they leave the window
// and the target is checked against the 400 in flight). Target, per member: the data directory (log, snapshots and the rest, on disk) at
// most 2x the live bytes plus three segments and two snapshots (the member's largest snapshot
// file), reached within the light traffic. The script prints the timeline per member, the end
// figures, when each member got within the target for good, and exits 1 when one did not.

import { parseArgs } from 'node:util';

import { agreedLeader, startSet, startSingleNode, type BenchServers, type ServerProc } from './bench-servers';
import { compactionGauges, diskTarget, dirUsage, mib, passingFrom, type DirUsage } from './disk-usage';
import { BODY, call, fill, mustOk, receiveDeleteBatch, backlogOf, BATCH, Target } from './load';
import { isOk, RawHttpConnection } from './raw-http';

const SEGMENT_MB = 4;
const SNAPSHOT_EVERY = 2000;
const KEPT_QUEUE = 'wa';
const PASS_QUEUE = 'wb';
const FIRST_SEND = 40_000;
/** Every this-many-th message received from the first queue is not deleted. */
const LEAVE_ONE_IN = 100;
const SECOND_SEND = 20_000;
const RETENTION_S = 1_296_000;
const VISIBILITY_S = 43_200;
const REWIND_S = 60;
/** Light traffic of a rewind variant lasts at least this long: the deleted messages leave the window, and the disk settles after. */
const REWIND_LIGHT_MIN_S = 150;
const LIGHT_EVERY_MS = 200;
const SAMPLE_S = 5;
/** Receivers of the first queue (closed loops of batched receive + delete). */
const RECEIVERS = 16;
const VARIANTS = ['single', 'set', 'single-rewind', 'set-rewind'] as const;
type Variant = (typeof VARIANTS)[number];

interface MemberSample {
  t: number;
  du: DirUsage;
  serverLive: number;
  copied: number;
}

async function createQueue(target: Target, q: string, extra: string): Promise<void> {
  const conn = await target.connection(0);
  const req = RawHttpConnection.request(`Action=CreateQueue&queueName=${q}&maxMsgHeapNum=100000000&maxMsgSize=65536&${extra}`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const body = await conn.send(req);
    if (isOk(body) || (JSON.parse(body.toString()) as { code: number }).code === 4460) return;
    if (Date.now() > deadline) throw new Error(`CreateQueue ${q}: ${body.toString()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Receive every message of the first queue once; delete all but every LEAVE_ONE_IN-th. */
async function receiveLeavingSome(target: Target): Promise<number> {
  const receiveReq = RawHttpConnection.request(`Action=BatchReceiveMessage&queueName=${KEPT_QUEUE}&numOfMsg=${BATCH}&pollingWaitSeconds=0`);
  let received = 0;
  let left = 0;
  const deadline = Date.now() + 300_000;
  await Promise.all(
    Array.from({ length: RECEIVERS }, async (_, w) => {
      const conn = await target.connection(w);
      while (received < FIRST_SEND) {
        if (Date.now() > deadline) throw new Error(`only ${received} of ${FIRST_SEND} messages received from ${KEPT_QUEUE}`);
        const r = await call(conn, receiveReq);
        if (r.code === 7000) {
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        if (r.code !== 0) throw new Error(JSON.stringify(r));
        let form = `Action=BatchDeleteMessage&queueName=${KEPT_QUEUE}`;
        let n = 0;
        for (const m of r.msgInfoList as { receiptHandle: string }[]) {
          received++;
          if (received % LEAVE_ONE_IN === 0) left++;
          else form += `&receiptHandle.${++n}=${encodeURIComponent(m.receiptHandle)}`;
        }
        if (n > 0) await mustOk(conn, RawHttpConnection.request(form));
      }
    }),
  );
  return left;
}

/** Receive and delete the second queue until it is empty. */
async function drain(target: Target, q: string): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const handled = await Promise.all(Array.from({ length: RECEIVERS }, async (_, w) => receiveDeleteBatch(target, await target.connection(w), q)));
    if (handled.every((n) => n === 0) && (await backlogOf(target, q)) === 0) return;
    if (Date.now() > deadline) throw new Error(`${q} did not drain`);
  }
}

/** One send, receive and delete on the second queue; false when one of them failed. */
async function lightOp(conn: RawHttpConnection): Promise<boolean> {
  const sent = await call(conn, RawHttpConnection.request(`Action=SendMessage&queueName=${PASS_QUEUE}&msgBody=${BODY}`));
  if (sent.code !== 0) return false;
  const got = await call(conn, RawHttpConnection.request(`Action=ReceiveMessage&queueName=${PASS_QUEUE}&pollingWaitSeconds=1`));
  if (got.code !== 0) return false;
  const del = await call(conn, RawHttpConnection.request(`Action=DeleteMessage&queueName=${PASS_QUEUE}&receiptHandle=${encodeURIComponent(got.receiptHandle as string)}`));
  return del.code === 0;
}

async function runVariant(variant: Variant, lightS: number, fsync: boolean): Promise<boolean> {
  const set = variant.startsWith('set');
  const rewind = variant.endsWith('rewind');
  const serverArgs = ['--segment-mb', String(SEGMENT_MB), '--snapshot-every', String(SNAPSHOT_EVERY)];
  console.log(`\n== ${set ? '3-node set' : 'single node'}${rewind ? `, rewindSeconds ${REWIND_S} on ${KEPT_QUEUE}` : ''} (${serverArgs.join(' ')}) ==`);
  const servers: BenchServers = set ? await startSet({ fsync, admin: true, serverArgs }) : await startSingleNode({ fsync, admin: true, serverArgs });
  let target: Target | undefined;
  try {
    const leader: ServerProc = set ? await agreedLeader(servers.nodes) : servers.nodes[0]!;
    target = new Target(leader.id, leader.port);
    const t0 = performance.now();
    const keptAttrs = `visibilityTimeout=${VISIBILITY_S}&msgRetentionSeconds=${RETENTION_S}${rewind ? `&rewindSeconds=${REWIND_S}` : ''}`;
    await createQueue(target, KEPT_QUEUE, keptAttrs);
    await createQueue(target, PASS_QUEUE, 'visibilityTimeout=300');
    await fill(target, KEPT_QUEUE, FIRST_SEND);
    const left = await receiveLeavingSome(target);
    await fill(target, PASS_QUEUE, SECOND_SEND);
    await drain(target, PASS_QUEUE);
    const liveMessages = left + (rewind ? FIRST_SEND - left : 0);
    // At the end of the light traffic, the deleted messages of a rewind variant are out of the window.
    const liveBytes = left * BODY.length;
    if (rewind) lightS = Math.max(lightS, REWIND_LIGHT_MIN_S);
    console.log(
      `setup in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${FIRST_SEND} sent to ${KEPT_QUEUE}, ${left} left in flight; ${SECOND_SEND} sent to and deleted from ${PASS_QUEUE}` +
        `${set ? `; leader ${leader.id}` : ''}`,
    );
    console.log(
      `live: ${liveMessages} messages${rewind ? ` (${left} in flight + ${FIRST_SEND - left} deleted inside the ${REWIND_S} s rewind window, which they leave during the light traffic)` : ' in flight'} = ${mib(liveMessages * BODY.length)} MiB` +
        `${rewind ? `; at the end ${left} in flight = ${mib(liveBytes)} MiB` : ''}`,
    );

    // Light traffic on its own connection, sampling on the side.
    const conn = await target.connection(RECEIVERS);
    let stop = false;
    let ops = 0;
    let failed = 0;
    const traffic = (async () => {
      for (let next = performance.now(); !stop; next += LIGHT_EVERY_MS) {
        await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
        if (stop) break;
        const ok = await lightOp(conn).catch(() => false);
        ops++;
        if (!ok) failed++;
      }
    })();
    const samples = new Map<string, MemberSample[]>(servers.nodes.map((n) => [n.id, []]));
    const lt0 = performance.now();
    console.log(`  t   ${servers.nodes.map((n) => `${n.id}${n === leader ? ' (leader)' : ''}: disk MiB = wal + snapshots + other [census live MiB, copied MiB]`).join('   ')}`);
    for (let k = 0; k * SAMPLE_S <= lightS; k++) {
      await new Promise((r) => setTimeout(r, Math.max(0, lt0 + k * SAMPLE_S * 1000 - performance.now())));
      const t = (performance.now() - lt0) / 1000;
      const row = await Promise.all(
        servers.nodes.map(async (n) => {
          const [du, g] = await Promise.all([dirUsage(n.dataDir), compactionGauges(n)]);
          const s: MemberSample = { t, du, serverLive: g.liveBytes, copied: g.copiedBytes };
          samples.get(n.id)!.push(s);
          return `${mib(du.total).padStart(6)} = ${mib(du.wal)} + ${mib(du.snapshots)} + ${mib(du.other)} [${mib(g.liveBytes)}, ${mib(g.copiedBytes)}]`.padEnd(46);
        }),
      );
      console.log(`${t.toFixed(0).padStart(3)}   ${row.join('   ')}`);
    }
    stop = true;
    await traffic;
    console.log(`light traffic: ${ops} send+receive+delete rounds, ${failed} failed`);

    let allMet = true;
    for (const n of servers.nodes) {
      const ss = samples.get(n.id)!;
      const last = ss.at(-1)!;
      const bound = diskTarget(liveBytes, SEGMENT_MB * 1024 * 1024, last.du.largestSnapshot);
      const met = last.du.total <= bound;
      allMet &&= met;
      const within = passingFrom(ss, (s) => s.du.total <= bound);
      const stable = passingFrom(ss, (s) => Math.abs(s.du.total - last.du.total) <= SEGMENT_MB * 1024 * 1024);
      console.log(
        `${n.id}${n === leader ? ' (leader)' : ''}: ${mib(last.du.total)} MiB on disk (wal ${mib(last.du.wal)}, snapshots ${mib(last.du.snapshots)}, other ${mib(last.du.other)}) ` +
          `= ${(last.du.total / liveBytes).toFixed(2)}x the live bytes; target ${mib(bound)} MiB (2 x ${mib(liveBytes)} live + 3 x ${SEGMENT_MB} MiB + 2 x ${mib(last.du.largestSnapshot)} MiB snapshot): ` +
          `${met ? 'MET' : 'NOT MET'}; within the target from t=${within === undefined ? 'never' : `${within.toFixed(0)} s`}, ` +
          `within one segment of the end from t=${stable === undefined ? '?' : `${stable.toFixed(0)} s`}; census live ${mib(last.serverLive)} MiB, copied ${mib(last.copied)} MiB`,
      );
    }
    return allMet;
  } finally {
    target?.close();
    await servers.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      'light-s': { type: 'string', default: '90' },
      'no-fsync': { type: 'boolean', default: false },
    },
  });
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : [...VARIANTS];
  for (const v of only) if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`unknown variant ${v}; known: ${VARIANTS.join(', ')}`);
  const lightS = Number(values['light-s']);
  if (!(lightS >= 0)) throw new Error('--light-s must be a number of seconds');
  console.log(`opencmq compaction workload: ${new Date().toISOString()}, fsync ${values['no-fsync'] ? 'OFF' : 'on'}, ${lightS} s of light traffic`);
  const failed: string[] = [];
  for (const v of only) if (!(await runVariant(v as Variant, lightS, !values['no-fsync']))) failed.push(v);
  console.log(`\n${failed.length === 0 ? 'target met on every member of every variant' : `target NOT met in: ${failed.join(', ')}`}; ${new Date().toISOString()}`);
  if (failed.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
