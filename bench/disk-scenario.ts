// The `disk` scenario of `npm run bench` (only with `--only disk`): what the data directory holds
// against what is live, under a steady work-queue load that leaves 1% of its messages behind.
//
// A single node with small log segments (--segment-mb 4) serves senders and receivers on one
// queue with 15-day retention and a 12-hour visibility timeout; receivers delete every message
// they get except every 100th, which stays in flight for the whole run. Those stragglers are
// scattered over every segment the load writes, so without compaction each segment stays pinned
// by them; with it, their bodies are copied out of sparse segments and the segments deleted.
// Every few seconds (and after the load, while the node settles) it prints the data directory's
// bytes on disk (log, snapshots), the live bytes (the stragglers' bodies, and the server's own
// census, which also counts the queued backlog) and their ratio, with the throughput; then the
// same with --compact-below 0, so both what compaction saves and what it costs are visible.

import { cpuSeconds, machineCpuSeconds, startSingleNode, type ServerProc, type StartOptions } from './bench-servers';
import { compactionGauges, dirUsage, mib } from './disk-usage';
import { BATCH, BODY, call, mustOk, sendBatch, Target } from './load';
import { isOk, RawHttpConnection } from './raw-http';

/** The scenario's log segment size, MiB: small, so a minute of load spans many segments. */
export const DISK_SEGMENT_MB = 4;
/** One received message in this many is never deleted (left in flight). */
const LEAVE_ONE_IN = 100;
const QUEUE = 'dq';
const VISIBILITY_S = 43_200;
const RETENTION_S = 1_296_000;
/**
 * Senders pause while this many sent messages are not yet received: the queue stays a work
 * queue whose consumers keep up (what is live is mostly the stragglers), at the rate they set.
 */
const BACKLOG_CAP = 5000;
/** Seconds between samples of the data directory. */
const SAMPLE_S = 5;

/** disk / live as a figure, or '-' before the first census has counted anything. */
const ratioOf = (disk: number, live: number): string => (live > 0 ? (disk / live).toFixed(1) : '-');

export interface DiskArgs {
  /** Seconds of load per variant. */
  loadS: number;
  /** Seconds without load after it, sampled, while censuses, compaction and snapshots catch up. */
  settleS: number;
  connections: number;
}

interface Counters {
  sent: number;
  received: number;
  left: number;
  errors: number;
}

interface Sample {
  t: number;
  disk: number;
  serverLive: number;
  leftBytes: number;
}

interface VariantResult {
  compactBelow: string;
  loadS: number;
  counts: Counters;
  serverCpuS: number;
  /** CPU seconds the rest of the machine used during the load (other work skews the figures). */
  otherCpuS: number;
  atLoadEnd: Sample;
  atEnd: Sample;
  copiedBytes: number;
  peakDisk: number;
  /** Latency of each batched send during the load (ms): what copying costs the requests it runs beside. */
  sendLatenciesMs: number[];
}

/** The queue: stragglers stay in flight for 12 hours and nothing expires during the run. */
async function createDiskQueue(target: Target): Promise<void> {
  const conn = await target.connection(0);
  const body = await conn.send(
    RawHttpConnection.request(
      `Action=CreateQueue&queueName=${QUEUE}&maxMsgHeapNum=100000000&visibilityTimeout=${VISIBILITY_S}&msgRetentionSeconds=${RETENTION_S}&maxMsgSize=65536`,
    ),
  );
  if (!isOk(body)) throw new Error(`CreateQueue ${QUEUE}: ${body.toString()}`);
}

/** Receive a batch (waiting up to 1 s), delete all of it but every LEAVE_ONE_IN-th message. */
async function receiveLeavingSome(conn: RawHttpConnection, receiveReq: Buffer, c: Counters): Promise<void> {
  const r = await call(conn, receiveReq);
  if (r.code !== 0) {
    if (r.code === 7000) return;
    throw new Error(JSON.stringify(r));
  }
  const list = r.msgInfoList as { receiptHandle: string }[];
  let form = `Action=BatchDeleteMessage&queueName=${QUEUE}`;
  let n = 0;
  for (const m of list) {
    c.received++;
    if (c.received % LEAVE_ONE_IN === 0) c.left++;
    else form += `&receiptHandle.${++n}=${encodeURIComponent(m.receiptHandle)}`;
  }
  if (n > 0) await mustOk(conn, RawHttpConnection.request(form));
}

async function queueCounts(target: Target): Promise<{ visible: number; inFlight: number }> {
  const r = await call(await target.connection(0), RawHttpConnection.request(`Action=GetQueueAttributes&queueName=${QUEUE}`));
  return { visible: r.activeMsgNum as number, inFlight: r.inactiveMsgNum as number };
}

const HEADER =
  '     t   sent/s   recv/s  backlog  left behind  (MiB)  server live MiB   disk MiB: wal + snapshots + other   disk/live  disk/left  copied MiB';

async function runVariant(compactBelow: string | undefined, a: DiskArgs, start: StartOptions): Promise<VariantResult> {
  const serverArgs = ['--segment-mb', String(DISK_SEGMENT_MB), ...(compactBelow !== undefined ? ['--compact-below', compactBelow] : [])];
  const label = compactBelow === undefined ? 'compaction on (default --compact-below 50)' : `--compact-below ${compactBelow}`;
  console.log(`\n-- ${label}: ${serverArgs.join(' ')}, ${a.loadS} s of load then ${a.settleS} s without --`);
  const servers = await startSingleNode({ ...start, admin: true, serverArgs });
  const node: ServerProc = servers.nodes[0]!;
  const target = new Target(node.id, node.port);
  try {
    await createDiskQueue(target);
    const c: Counters = { sent: 0, received: 0, left: 0, errors: 0 };
    const sendLatenciesMs: number[] = [];
    // Half send, half receive; a receive and a delete per batch cost more than a send, so
    // senders hold back at BACKLOG_CAP and the receivers set the rate.
    const senders = Math.max(1, Math.floor(a.connections / 2));
    const sendReq = sendBatch(QUEUE);
    const receiveReq = RawHttpConnection.request(`Action=BatchReceiveMessage&queueName=${QUEUE}&numOfMsg=${BATCH}&pollingWaitSeconds=1`);
    const conns: RawHttpConnection[] = [];
    for (let w = 0; w < a.connections + 1; w++) conns.push(await target.connection(w));
    const t0 = performance.now();
    const loadEnd = t0 + a.loadS * 1000;
    const cpu0 = cpuSeconds(node.pid);
    const machine0 = machineCpuSeconds().busy;
    const lg0 = process.cpuUsage();
    let cpuAtLoadEnd = NaN;
    let otherCpuS = NaN;
    const workers = conns.slice(1).map(async (conn, w) => {
      while (performance.now() < loadEnd && !conn.closed) {
        try {
          if (w < senders) {
            if (c.sent - c.received >= BACKLOG_CAP) {
              await new Promise((r) => setTimeout(r, 2));
              continue;
            }
            const s0 = performance.now();
            await mustOk(conn, sendReq);
            sendLatenciesMs.push(performance.now() - s0);
            c.sent += BATCH;
          } else await receiveLeavingSome(conn, receiveReq, c);
        } catch {
          c.errors++;
        }
      }
    });
    const done = Promise.all(workers).then(() => {
      cpuAtLoadEnd = cpuSeconds(node.pid);
      const lg = process.cpuUsage(lg0);
      otherCpuS = Math.max(0, machineCpuSeconds().busy - machine0 - (cpuAtLoadEnd - cpu0) - (lg.user + lg.system) / 1e6);
    });
    console.log(HEADER);
    const samples: Sample[] = [];
    let prev = { t: 0, sent: 0, received: 0 };
    let copiedBytes = 0;
    let atLoadEnd: Sample | undefined;
    const end = loadEnd + a.settleS * 1000;
    for (let next = t0 + SAMPLE_S * 1000; ; next += SAMPLE_S * 1000) {
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      const t = (performance.now() - t0) / 1000;
      const [du, g, q] = await Promise.all([dirUsage(node.dataDir), compactionGauges(node), queueCounts(target)]);
      const dt = t - prev.t;
      const s: Sample = { t, disk: du.total, serverLive: g.liveBytes, leftBytes: c.left * BODY.length };
      samples.push(s);
      if (Number.isFinite(g.copiedBytes)) copiedBytes = g.copiedBytes;
      console.log(
        `${t.toFixed(0).padStart(6)} ${Math.round((c.sent - prev.sent) / dt).toString().padStart(8)} ${Math.round((c.received - prev.received) / dt).toString().padStart(8)} ` +
          `${String(q.visible).padStart(8)} ${String(c.left).padStart(12)} ${mib(s.leftBytes).padStart(6)} ${mib(g.liveBytes).padStart(16)}   ` +
          `${`${mib(du.total)}: ${mib(du.wal)} + ${mib(du.snapshots)} + ${mib(du.other)}`.padEnd(34)} ${ratioOf(du.total, g.liveBytes).padStart(9)} ` +
          `${ratioOf(du.total, s.leftBytes).padStart(10)} ${mib(g.copiedBytes).padStart(11)}`,
      );
      prev = { t, sent: c.sent, received: c.received };
      if (atLoadEnd === undefined && performance.now() >= loadEnd) {
        await done;
        atLoadEnd = s;
        // Asked again: the sample's counts may include a batch received but not yet deleted.
        const after = await queueCounts(target);
        if (a.settleS > 0) console.log(`  (load stopped; ${after.inFlight} messages in flight, ${after.visible} queued)`);
      }
      if (performance.now() >= end) break;
    }
    await done;
    const atEnd = samples.at(-1)!;
    return {
      compactBelow: compactBelow ?? '50 (default)',
      loadS: a.loadS,
      counts: { ...c },
      serverCpuS: cpuAtLoadEnd - cpu0,
      otherCpuS,
      atLoadEnd: atLoadEnd ?? atEnd,
      atEnd,
      copiedBytes,
      peakDisk: Math.max(...samples.map((s) => s.disk)),
      sendLatenciesMs,
    };
  } finally {
    target.close();
    await servers.stop();
  }
}

function summary(r: VariantResult): void {
  const per = (x: number): string => Math.round(x / r.loadS).toLocaleString('en-US');
  const ratio = (s: Sample): string => `${mib(s.disk)} MiB on disk for ${mib(s.serverLive)} MiB live (server) / ${mib(s.leftBytes)} MiB left behind: ${ratioOf(s.disk, s.serverLive)}x / ${ratioOf(s.disk, s.leftBytes)}x`;
  console.log(`  --compact-below ${r.compactBelow}:`);
  console.log(
    `    load: ${per(r.counts.sent)} msg/s sent, ${per(r.counts.received)} msg/s received, ${r.counts.left} left in flight, ${r.counts.errors} errors; ` +
      `server CPU ${((r.serverCpuS * 100_000) / Math.max(1, r.counts.sent + r.counts.received)).toFixed(2)} s per 100k messages sent+received; other processes ${r.otherCpuS.toFixed(1)} CPU s`,
  );
  console.log(`    at the end of the load (t=${r.atLoadEnd.t.toFixed(0)} s): ${ratio(r.atLoadEnd)}`);
  console.log(`    at the end (t=${r.atEnd.t.toFixed(0)} s):             ${ratio(r.atEnd)}`);
  console.log(`    peak ${mib(r.peakDisk)} MiB on disk; compaction copied ${mib(r.copiedBytes)} MiB`);
  const lat = [...r.sendLatenciesMs].sort((x, y) => x - y);
  const at = (p: number): string => (lat.length === 0 ? '-' : lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!.toFixed(2));
  console.log(`    batched send latency during the load: p50 ${at(50)} ms, p99 ${at(99)} ms, p99.9 ${at(99.9)} ms (${lat.length} sends)`);
}

export async function runDiskScenario(a: DiskArgs, start: StartOptions): Promise<void> {
  console.log(
    `\n== disk: single node, ${DISK_SEGMENT_MB} MiB segments, ${a.connections} connections (half sending, holding back at ${BACKLOG_CAP} queued), 1 in ${LEAVE_ONE_IN} received messages ` +
      `left in flight (visibility ${VISIBILITY_S} s, retention ${RETENTION_S} s); compaction on, then off ==`,
  );
  console.log('  (disk: the data directory on disk, as du counts it; server live: its last census (every 10 s), backlog included)');
  const on = await runVariant(undefined, a, start);
  const off = await runVariant('0', a, start);
  console.log('\ndisk summary:');
  summary(on);
  summary(off);
  const rate = (r: VariantResult): number => r.counts.received / r.loadS;
  console.log(
    `  compaction on / off: ${(rate(on) / rate(off)).toFixed(2)}x the messages received per second, ` +
      `${(on.atLoadEnd.disk / off.atLoadEnd.disk).toFixed(2)}x the disk at the end of the load, ${(on.atEnd.disk / off.atEnd.disk).toFixed(2)}x at the end`,
  );
}
