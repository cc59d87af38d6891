// Snapshot transfer (Raft's InstallSnapshot) between real nodes. A follower that needs entries the
// leader has compacted gets, instead, the leader's latest node snapshot plus every log entry the
// leader still holds at or below the snapshot's index: the state machine keeps message bodies in
// the log, so those entries (the runs of segments kept because live messages sit in them) are
// part of the snapshot.
//
// The leader streams it over the peer transport's request channel (begin, snapshot chunks, entry
// chunks, end), each chunk acknowledged, so a slow follower slows the sender instead of filling
// memory. The follower stages everything in <dataDir>/install: the snapshot file and a WAL of its
// own holding the shipped runs (with holes between them) and ending at the snapshot index. Only a
// complete, checksum-verified staging gets its READY marker; then the leader sends the Raft
// InstallSnapshot message, which the follower's driver steps into the core only if that staging
// is READY. Once the core accepts it, `beginInstall` renames READY to INSTALLING (durably);
// installing swaps the staged WAL in for the node's WAL and saves the snapshot. `finishInstall`
// does that idempotently, so a crash anywhere in it is completed at the next start-up, before
// anything is read from disk. A staging that is only READY at start-up was never accepted: the
// node may have moved past it since (caught up by plain replication, taken its own snapshots), so
// it is deleted, never installed; the leader sends a new one if the member still needs it.

import path from 'node:path';

import type { SnapshotMeta } from '../raft';
import type { FileHandle, FileSystem } from '../runtime/fs';
import { nodeFs } from '../runtime/node-fs';
import { crc32c } from '../storage/crc32c';
import { pathExists, syncDirectory } from '../storage/file-io';
import type { SnapshotStore } from '../storage/snapshot-store';
import { ENTRY_KINDS, type EntryKind, type LogEntry } from '../storage/types';
import { SegmentedWal, type WalOptions } from '../storage/wal';
import { RPC_SERVICE, type RpcRouter } from './rpc';
import { loggerFor, type Logger, type LogSink } from '../protocol/log';
import { nodeRuntime } from '../runtime/node-runtime';
import type { Clock } from '../runtime/timers';

const OP_BEGIN = 1;
const OP_SNAPSHOT = 2;
const OP_ENTRIES = 3;
const OP_END = 4;

/** Snapshot bytes per request. */
const SNAPSHOT_CHUNK_BYTES = 4 * 1024 * 1024;
/** Entry payload bytes per request (one entry always goes, however large). */
const ENTRY_CHUNK_BYTES = 8 * 1024 * 1024;
/** Entries read from the WAL at once. */
const READ_ENTRIES_MAX = 64;
const REQUEST_TIMEOUT_MS = 30_000;
/** After the core accepted a staged snapshot, a new transfer may not replace it for this long. */
const RESERVATION_MS = 10_000;

const INSTALL_DIR = 'install';
const READY_FILE = 'READY';
/** The core accepted the staged snapshot: from here on the install is completed, even after a crash. */
const INSTALLING_FILE = 'INSTALLING';
const SNAPSHOT_FILE = 'snapshot';
const WAL_DIR = 'wal';
const OLD_WAL_DIR = 'wal.old';

interface BeginHeader {
  id: string;
  index: number;
  term: number;
  voters: string[];
  bytes: number;
  crc: number;
}

interface EntryHeader {
  index: number;
  term: number;
  kind: EntryKind;
  timeMs: number;
  metaLen: number;
  len: number;
  /**
   * The sender knows this entry's body is damaged in its own log (it is sent as it is, its meta
   * intact). Absent from senders of the previous release: read as false.
   */
  damaged?: boolean;
}

/** An entry as received, and whether its sender knew its body to be damaged. */
interface ReceivedEntry {
  entry: LogEntry;
  damaged: boolean;
}

// ---- wire ------------------------------------------------------------------------------------------

function encodeRequest(op: number, header: object, body: readonly Uint8Array[] = []): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  let bodyBytes = 0;
  for (const b of body) bodyBytes += b.byteLength;
  const out = Buffer.allocUnsafe(6 + h.length + bodyBytes);
  out[0] = RPC_SERVICE.snapshot;
  out[1] = op;
  out.writeUInt32LE(h.length, 2);
  h.copy(out, 6);
  let at = 6 + h.length;
  for (const b of body) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

function decodeRequest(buf: Buffer): { op: number; header: Record<string, unknown>; body: Buffer } {
  if (buf.length < 5) throw new Error('snapshot transfer: short request');
  const op = buf[0]!;
  const len = buf.readUInt32LE(1);
  if (5 + len > buf.length) throw new Error('snapshot transfer: truncated header');
  const header = JSON.parse(buf.toString('utf8', 5, 5 + len)) as unknown;
  if (typeof header !== 'object' || header === null) throw new Error('snapshot transfer: bad header');
  return { op, header: header as Record<string, unknown>, body: buf.subarray(5 + len) };
}

function num(h: Record<string, unknown>, key: string): number {
  const v = h[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`snapshot transfer: bad ${key}`);
  return v;
}

function str(h: Record<string, unknown>, key: string): string {
  const v = h[key];
  if (typeof v !== 'string') throw new Error(`snapshot transfer: bad ${key}`);
  return v;
}

function decodeEntries(header: Record<string, unknown>, body: Buffer): ReceivedEntry[] {
  const list = header.entries;
  if (!Array.isArray(list)) throw new Error('snapshot transfer: bad entry list');
  const out: ReceivedEntry[] = [];
  let at = 0;
  for (const raw of list as unknown[]) {
    if (typeof raw !== 'object' || raw === null) throw new Error('snapshot transfer: bad entry');
    const e = raw as Record<string, unknown>;
    const kind = e.kind as EntryKind;
    if (!ENTRY_KINDS.includes(kind)) throw new Error('snapshot transfer: bad entry kind');
    const len = num(e, 'len');
    const timeMs = e.timeMs;
    if (typeof timeMs !== 'number' || !Number.isFinite(timeMs)) throw new Error('snapshot transfer: bad timeMs');
    if (at + len > body.length) throw new Error('snapshot transfer: entry bodies truncated');
    const entry: LogEntry = { index: num(e, 'index'), term: num(e, 'term'), kind, timeMs, metaLen: num(e, 'metaLen'), payload: body.subarray(at, at + len) };
    out.push({ entry, damaged: e.damaged === true });
    at += len;
  }
  if (at !== body.length) throw new Error('snapshot transfer: trailing bytes after the entries');
  return out;
}

// ---- leader side -------------------------------------------------------------------------------

export interface SnapshotSource {
  /** The saved node snapshot at exactly `index`, or undefined if it is no longer the latest. */
  loadSnapshot(index: number): Promise<Uint8Array | undefined>;
  /** The log the entries are read from (it changes when this node itself installs a snapshot). */
  wal(): SegmentedWal;
}

export class SnapshotSender {
  private readonly sending = new Set<string>();
  private seq = 0;

  constructor(
    private readonly rpc: RpcRouter,
    private readonly selfId: string,
    private readonly source: SnapshotSource,
    sink: LogSink,
    private readonly rt: Clock = nodeRuntime,
  ) {
    this.log = loggerFor(sink, 'snapshot', stderrLine);
  }
  private readonly log: Logger;

  isSending(peer: string): boolean {
    return this.sending.has(peer);
  }

  /** Streams the snapshot at meta.index and the entries it needs to `peer`; resolves once staged there. */
  async send(peer: string, meta: SnapshotMeta): Promise<void> {
    if (this.sending.has(peer)) throw new Error(`a snapshot transfer to ${peer} is already running`);
    this.sending.add(peer);
    const started = this.rt.nowMs();
    try {
      const data = await this.source.loadSnapshot(meta.index);
      if (!data) throw new Error(`snapshot ${meta.index} is no longer the latest`);
      const id = `${this.selfId}-${meta.term}-${++this.seq}-${started}`;
      const begin: BeginHeader = { id, index: meta.index, term: meta.term, voters: meta.voters, bytes: data.byteLength, crc: crc32c(data) };
      await this.request(peer, encodeRequest(OP_BEGIN, begin));
      for (let offset = 0; offset < data.byteLength; offset += SNAPSHOT_CHUNK_BYTES) {
        const chunk = data.subarray(offset, Math.min(data.byteLength, offset + SNAPSHOT_CHUNK_BYTES));
        await this.request(peer, encodeRequest(OP_SNAPSHOT, { id, offset }, [chunk]));
      }
      const shipped = await this.sendEntries(peer, id, meta.index);
      await this.request(peer, encodeRequest(OP_END, { id }));
      this.log.info(
        `sent snapshot ${meta.index} (${data.byteLength} bytes) and ${shipped.entries} entries ` +
          `(${shipped.bytes} bytes) to ${peer} in ${this.rt.nowMs() - started} ms`,
      );
    } finally {
      this.sending.delete(peer);
    }
  }

  private async sendEntries(peer: string, id: string, upTo: number): Promise<{ entries: number; bytes: number }> {
    const wal = this.source.wal();
    let headers: EntryHeader[] = [];
    let bodies: Uint8Array[] = [];
    let bytes = 0;
    let total = 0;
    let totalBytes = 0;
    const flush = async (): Promise<void> => {
      if (headers.length === 0) return;
      await this.request(peer, encodeRequest(OP_ENTRIES, { id, entries: headers }, bodies));
      headers = [];
      bodies = [];
      bytes = 0;
    };
    for (const seg of wal.segments()) {
      const hi = Math.min(seg.lastIndex, upTo);
      for (let from = seg.firstIndex; from <= hi; from += READ_ENTRIES_MAX) {
        const entries = await wal.readEntries(from, Math.min(hi, from + READ_ENTRIES_MAX - 1), { tolerateKnownDamage: true });
        for (const e of entries) {
          if (headers.length > 0 && bytes + e.payload.byteLength > ENTRY_CHUNK_BYTES) await flush();
          const header: EntryHeader = { index: e.index, term: e.term, kind: e.kind, timeMs: e.timeMs, metaLen: e.metaLen, len: e.payload.byteLength };
          // The receiver may hold an intact copy of a body damaged here: it keeps that one.
          if (wal.isKnownDamaged(e.index)) header.damaged = true;
          headers.push(header);
          bodies.push(e.payload);
          bytes += e.payload.byteLength;
          total++;
          totalBytes += e.payload.byteLength;
        }
      }
    }
    await flush();
    return { entries: total, bytes: totalBytes };
  }

  private async request(peer: string, payload: Buffer): Promise<void> {
    await this.rpc.network.request(peer, payload, { timeoutMs: REQUEST_TIMEOUT_MS });
  }
}

// ---- follower side -----------------------------------------------------------------------------

interface Staging {
  id: string;
  meta: SnapshotMeta;
  bytes: number;
  crc: number;
  received: number;
  runningCrc: number;
  file: FileHandle;
  wal: SegmentedWal;
}

export class SnapshotReceiver {
  private staging: Staging | undefined;
  private ready: SnapshotMeta | undefined;
  private reservedUntil = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The staging lives on the same file system as the WAL it will replace. */
  private readonly fs: FileSystem;

  constructor(
    private readonly dataDir: string,
    private readonly walOptions: WalOptions,
    private readonly rt: Clock,
    sink: LogSink,
    /**
     * This member's own copy of entry `index` of `term`, when its log holds it with an intact body
     * (else undefined): what replaces an entry the sender knows to be damaged, so a bit flip on
     * the sender's disk does not overwrite the good copies the other members hold.
     */
    private readonly intactCopy: (index: number, term: number) => Promise<LogEntry | undefined> = () => Promise.resolve(undefined),
  ) {
    this.log = loggerFor(sink, 'snapshot', stderrLine);
    this.fs = walOptions.fs ?? nodeFs;
  }
  private readonly log: Logger;

  /** Serves the leader's transfer requests, one at a time. */
  serve(rpc: RpcRouter): void {
    rpc.serve(RPC_SERVICE.snapshot, (from, payload) => {
      const run = this.chain.then(() => this.handle(from, payload));
      this.chain = run.catch(() => undefined);
      return run;
    });
  }

  /** Whether `meta` is completely staged here (the core may accept the leader's InstallSnapshot). */
  isReady(meta: SnapshotMeta): boolean {
    return this.ready !== undefined && this.ready.index === meta.index && this.ready.term === meta.term;
  }

  /** The core accepted `meta`: keep new transfers from replacing the staging until it is installed. */
  reserve(): void {
    this.reservedUntil = this.rt.nowMs() + RESERVATION_MS;
  }

  /** The staged snapshot was installed (finishInstall consumed the staging directory). */
  installed(): void {
    this.ready = undefined;
    this.reservedUntil = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    await this.abort();
  }

  private get installDir(): string {
    return path.join(this.dataDir, INSTALL_DIR);
  }

  private async handle(from: string, payload: Buffer): Promise<Uint8Array> {
    if (this.closed) throw new Error('node is shutting down');
    const { op, header, body } = decodeRequest(payload);
    switch (op) {
      case OP_BEGIN:
        await this.begin(from, header);
        break;
      case OP_SNAPSHOT:
        await this.snapshotChunk(this.current(header), num(header, 'offset'), body);
        break;
      case OP_ENTRIES:
        await this.entries(this.current(header), decodeEntries(header, body));
        break;
      case OP_END:
        await this.end(this.current(header));
        break;
      default:
        throw new Error(`snapshot transfer: unknown op ${op}`);
    }
    return Buffer.alloc(0);
  }

  private current(header: Record<string, unknown>): Staging {
    const s = this.staging;
    if (!s || s.id !== str(header, 'id')) throw new Error('snapshot transfer: no such transfer (replaced or aborted)');
    return s;
  }

  private async begin(from: string, h: Record<string, unknown>): Promise<void> {
    if (this.ready && this.rt.nowMs() < this.reservedUntil) throw new Error('snapshot transfer: a staged snapshot is being installed');
    const voters = h.voters;
    if (!Array.isArray(voters) || !voters.every((v) => typeof v === 'string')) throw new Error('snapshot transfer: bad voters');
    const meta: SnapshotMeta = { index: num(h, 'index'), term: num(h, 'term'), voters: voters };
    await this.abort();
    await this.fs.rm(this.installDir, { recursive: true, force: true });
    await this.fs.mkdir(this.installDir, { recursive: true });
    const file = await this.fs.open(path.join(this.installDir, SNAPSHOT_FILE), 'w');
    const { wal } = await SegmentedWal.open(path.join(this.installDir, WAL_DIR), this.walOptions).catch(async (err: unknown) => {
      await file.close();
      throw err;
    });
    this.staging = { id: str(h, 'id'), meta, bytes: num(h, 'bytes'), crc: num(h, 'crc'), received: 0, runningCrc: 0, file, wal };
    this.log.info(`receiving snapshot ${meta.index} (term ${meta.term}, ${this.staging.bytes} bytes) from ${from}`);
  }

  private async snapshotChunk(s: Staging, offset: number, body: Buffer): Promise<void> {
    if (offset !== s.received) throw new Error(`snapshot transfer: chunk at ${offset}, expected ${s.received}`);
    if (s.received + body.length > s.bytes) throw new Error('snapshot transfer: more snapshot bytes than announced');
    await s.file.write(body, 0, body.length, offset);
    s.received += body.length;
    s.runningCrc = crc32c(body, s.runningCrc);
  }

  /** Appends a chunk of entries: contiguous runs, with a hole (skipTo) wherever the indexes jump. */
  private async entries(s: Staging, received: ReceivedEntry[]): Promise<void> {
    const entries: LogEntry[] = [];
    for (const r of received) {
      const own = r.damaged ? await this.intactCopy(r.entry.index, r.entry.term) : undefined;
      if (own !== undefined) this.log.warn(`entry ${r.entry.index} came damaged from the leader: kept this member's intact copy`, { index: r.entry.index });
      entries.push(own ?? r.entry);
    }
    for (let start = 0; start < entries.length; ) {
      let end = start + 1;
      while (end < entries.length && entries[end]!.index === entries[end - 1]!.index + 1) end++;
      const run = entries.slice(start, end);
      const first = run[0]!;
      if (run[run.length - 1]!.index > s.meta.index) throw new Error('snapshot transfer: entry beyond the snapshot index');
      const next = s.wal.lastIndex() + 1;
      if (first.index !== next) {
        if (first.index < next) throw new Error(`snapshot transfer: entry ${first.index} out of order (next is ${next})`);
        if (s.wal.lastIndex() === 0) await s.wal.reset(first.index);
        else await s.wal.skipTo(first.index);
      }
      await s.wal.append(run);
      start = end;
    }
  }

  private async end(s: Staging): Promise<void> {
    if (s.received !== s.bytes) throw new Error(`snapshot transfer: got ${s.received} of ${s.bytes} snapshot bytes`);
    if (s.runningCrc !== s.crc) throw new Error('snapshot transfer: snapshot checksum mismatch');
    const after = s.meta.index + 1;
    if (s.wal.lastIndex() === 0) await s.wal.reset(after);
    else if (s.wal.lastIndex() < s.meta.index) await s.wal.skipTo(after);
    await s.file.datasync();
    await s.file.close();
    await s.wal.close();
    this.staging = undefined;
    const readyPath = path.join(this.installDir, READY_FILE);
    await this.fs.writeFile(`${readyPath}.tmp`, JSON.stringify(s.meta));
    const fh = await this.fs.open(`${readyPath}.tmp`, 'r');
    await fh.datasync();
    await fh.close();
    await this.fs.rename(`${readyPath}.tmp`, readyPath);
    await syncDirectory(this.installDir, this.fs);
    this.ready = s.meta;
    this.log.info(`snapshot ${s.meta.index} staged; waiting for the leader's InstallSnapshot`);
  }

  private async abort(): Promise<void> {
    const s = this.staging;
    this.staging = undefined;
    this.ready = undefined;
    if (!s) return;
    await s.file.close().catch(() => undefined);
    await s.wal.close().catch(() => undefined);
  }
}


/** The core accepted the READY staging of `meta`: mark it INSTALLING, durably, before anything is replaced. */
export async function beginInstall(dataDir: string, meta: { index: number; term: number }, fs: FileSystem = nodeFs): Promise<void> {
  const installDir = path.join(dataDir, INSTALL_DIR);
  const staged = JSON.parse(await fs.readFile(path.join(installDir, READY_FILE), 'utf8')) as SnapshotMeta;
  if (staged.index !== meta.index || staged.term !== meta.term) {
    throw new Error(`snapshot ${meta.index} (term ${meta.term}) was to be installed but the staging holds ${staged.index} (term ${staged.term})`);
  }
  await fs.rename(path.join(installDir, READY_FILE), path.join(installDir, INSTALLING_FILE));
  await syncDirectory(installDir, fs);
}

/**
 * Makes an INSTALLING staging the node's state: the staged WAL replaces <dataDir>/wal and the
 * staged snapshot is saved. Idempotent, so start-up calls it first to finish an install a crash
 * cut short; any other staging (unfinished, or READY but never accepted) is deleted. Returns the
 * installed snapshot's meta.
 */
export async function finishInstall(
  dataDir: string,
  snapshots: SnapshotStore,
  sink: LogSink,
  fs: FileSystem = nodeFs,
): Promise<SnapshotMeta | undefined> {
  const log = loggerFor(sink, 'snapshot', stderrLine);
  const installDir = path.join(dataDir, INSTALL_DIR);
  let meta: SnapshotMeta;
  try {
    meta = JSON.parse(await fs.readFile(path.join(installDir, INSTALLING_FILE), 'utf8')) as SnapshotMeta;
  } catch {
    if (await pathExists(installDir, fs)) {
      await fs.rm(installDir, { recursive: true, force: true });
      await syncDirectory(dataDir, fs);
      log.warn('deleted a snapshot transfer that was never installed (unfinished, or staged but not accepted)');
    }
    return undefined;
  }
  const walDir = path.join(dataDir, WAL_DIR);
  const oldWal = path.join(dataDir, OLD_WAL_DIR);
  const stagedWal = path.join(installDir, WAL_DIR);
  if (await pathExists(stagedWal, fs)) {
    if (await pathExists(walDir, fs)) {
      await fs.rm(oldWal, { recursive: true, force: true });
      await fs.rename(walDir, oldWal);
    }
    await fs.rename(stagedWal, walDir);
    await syncDirectory(dataDir, fs);
  }
  const data = await fs.readFile(path.join(installDir, SNAPSHOT_FILE));
  await snapshots.save({ index: meta.index, term: meta.term }, data);
  await fs.rm(oldWal, { recursive: true, force: true });
  await fs.rm(installDir, { recursive: true, force: true });
  await syncDirectory(dataDir, fs);
  log.info(`installed snapshot ${meta.index} (term ${meta.term}) from the leader`);
  return meta;
}

function stderrLine(line: string): void {
  process.stderr.write(`${line}\n`);
}
