// Durable snapshots of the state machine, one file per snapshot index, written atomically
// (temp file, fdatasync, rename, directory fsync) and verified by CRC32C when loaded.
//
// File layout, little-endian: magic u32, version u32, index u64, term u64, dataLength u64,
// dataCrc u32, headerCrc u32 (CRC32C of the 36 bytes before it), then the data.
import { join } from 'node:path';
import type { FileSystem } from '../runtime/fs';
import { nodeFs } from '../runtime/node-fs';
import { crc32c } from './crc32c';
import { atStep } from './disk-stall';
import { readFully, syncDirectory, writevFully } from './file-io';
import { STORAGE_LIMITS } from './limits';
import { loggerFor, type Logger, type LogSink } from '../protocol/log';

const SNAPSHOT_MAGIC = 0x50414e53; // "SNAP"
const SNAPSHOT_VERSION = 1;
const SNAPSHOT_HEADER_BYTES = 40;
const TWO_POW_32 = 0x1_0000_0000;
const SNAPSHOT_NAME_RE = /^snapshot-(\d{20})\.snap$/;
const TEMP_SUFFIX = '.tmp';

export interface SnapshotMeta {
  /** Index of the last log entry the snapshot covers. */
  index: number;
  term: number;
}

export interface LoadedSnapshot extends SnapshotMeta {
  data: Buffer;
}

/** A snapshot's data: one buffer, or its pieces in order. */
export type SnapshotData = Uint8Array | Iterable<Uint8Array>;

/** Reads and checksums of a snapshot file go this many bytes at a time. */
const SNAPSHOT_IO_PIECE_BYTES = 8 * 1024 * 1024;

export interface SnapshotStoreOptions {
  log?: LogSink;
  /** Where the files live (default: the real file system). */
  fs?: FileSystem;
}

export function snapshotFileName(index: number): string {
  return `snapshot-${String(index).padStart(20, '0')}.snap`;
}

function writeU64(buf: Buffer, pos: number, v: number): void {
  buf.writeUInt32LE(v >>> 0, pos);
  buf.writeUInt32LE(Math.floor(v / TWO_POW_32), pos + 4);
}

function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32LE(pos + 4) * TWO_POW_32 + buf.readUInt32LE(pos);
}

function encodeHeader(meta: SnapshotMeta, dataLength: number, dataCrc: number): Buffer {
  const h = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
  h.writeUInt32LE(SNAPSHOT_MAGIC, 0);
  h.writeUInt32LE(SNAPSHOT_VERSION, 4);
  writeU64(h, 8, meta.index);
  writeU64(h, 16, meta.term);
  writeU64(h, 24, dataLength);
  h.writeUInt32LE(dataCrc, 32);
  h.writeUInt32LE(crc32c(h.subarray(0, 36)), 36);
  return h;
}

/**
 * The snapshot in the file at `path` if intact and matching `index` (from its name), else why not.
 * The data is read and checksummed a piece at a time, so a snapshot of a large backlog never holds
 * the event loop for the whole of its checksum.
 */
async function readSnapshotFile(fs: FileSystem, path: string, index: number): Promise<LoadedSnapshot | string> {
  const fh = await fs.open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < SNAPSHOT_HEADER_BYTES) return 'shorter than its header';
    const h = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
    await readFully(fh, h, 0, SNAPSHOT_HEADER_BYTES, 0);
    if (h.readUInt32LE(0) !== SNAPSHOT_MAGIC) return 'bad magic';
    if (crc32c(h.subarray(0, 36)) !== h.readUInt32LE(36)) return 'header checksum mismatch';
    const version = h.readUInt32LE(4);
    if (version !== SNAPSHOT_VERSION) return `unknown version ${version}`;
    if (readU64(h, 8) !== index) return 'index does not match the file name';
    const data = Buffer.allocUnsafe(size - SNAPSHOT_HEADER_BYTES);
    if (readU64(h, 24) !== data.length) return 'length mismatch (truncated?)';
    let crc = 0;
    for (let off = 0; off < data.length; off += SNAPSHOT_IO_PIECE_BYTES) {
      const n = Math.min(SNAPSHOT_IO_PIECE_BYTES, data.length - off);
      await readFully(fh, data, off, n, SNAPSHOT_HEADER_BYTES + off);
      crc = crc32c(data.subarray(off, off + n), crc);
    }
    if (crc !== h.readUInt32LE(32)) return 'data checksum mismatch';
    return { index, term: readU64(h, 16), data };
  } finally {
    await fh.close();
  }
}

/** What a snapshot directory holds, read without changing it (for `opencmq wal verify`). */
export interface SnapshotDirReport {
  /** The snapshot start-up would load: the newest one that verifies. */
  latest: LoadedSnapshot | undefined;
  /** Newer files that fail to verify (start-up skips them), and why. */
  damaged: { name: string; reason: string }[];
}

/** Reads `dir` as loadLatest does, without creating, pruning or deleting anything. */
export async function inspectSnapshots(dir: string, fs: FileSystem = nodeFs): Promise<SnapshotDirReport> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { latest: undefined, damaged: [] };
    throw err;
  }
  const indexes = names.flatMap((n) => {
    const m = SNAPSHOT_NAME_RE.exec(n);
    return m ? [Number(m[1])] : [];
  });
  const damaged: SnapshotDirReport['damaged'] = [];
  for (const index of indexes.sort((a, b) => b - a)) {
    const name = snapshotFileName(index);
    const snap = await readSnapshotFile(fs, join(dir, name), index);
    if (typeof snap !== 'string') return { latest: snap, damaged };
    damaged.push({ name, reason: snap });
  }
  return { latest: undefined, damaged };
}

export class SnapshotStore {
  /** Serializes saves so pruning never races a rename. Never rejects. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly fs: FileSystem,
  ) {}

  /** Opens (creating if missing) the snapshot directory and removes unfinished temp files. */
  static async open(dir: string, opts: SnapshotStoreOptions = {}): Promise<SnapshotStore> {
    const fs = opts.fs ?? nodeFs;
    await fs.mkdir(dir, { recursive: true });
    for (const name of await fs.readdir(dir)) {
      if (name.startsWith('snapshot-') && name.endsWith(TEMP_SUFFIX)) await fs.unlink(join(dir, name));
    }
    return new SnapshotStore(dir, loggerFor(opts.log, 'snapshot', (line) => process.stderr.write(line + '\n')), fs);
  }

  /**
   * Writes the snapshot durably and atomically, then keeps only the newest ones. `data` is the
   * whole snapshot, or its pieces, each asked for only once the one before was written (so a
   * capture emitted in slices lets the event loop run between them).
   */
  save(meta: SnapshotMeta, data: SnapshotData): Promise<void> {
    if (!Number.isSafeInteger(meta.index) || meta.index < 0 || !Number.isSafeInteger(meta.term) || meta.term < 0) {
      return Promise.reject(new RangeError('snapshot: index and term must be non-negative integers'));
    }
    const run = this.saving.then(() => this.write(meta, data));
    this.saving = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async write(meta: SnapshotMeta, data: SnapshotData): Promise<void> {
    const name = snapshotFileName(meta.index);
    const tmp = join(this.dir, name + TEMP_SUFFIX);
    const fh = await atStep('create', tmp, () => this.fs.open(tmp, 'w'));
    try {
      // The data first, then the header that covers it (its length and checksum known only then).
      // A full disk fails here: the partial file is removed and the caller tries again later.
      let pos = SNAPSHOT_HEADER_BYTES;
      let crc = 0;
      for (const piece of data instanceof Uint8Array ? [data] : data) {
        crc = crc32c(piece, crc);
        const at = pos;
        await atStep('write', tmp, () => writevFully(fh, [Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength)], at));
        pos += piece.byteLength;
      }
      const header = encodeHeader(meta, pos - SNAPSHOT_HEADER_BYTES, crc);
      await atStep('write', tmp, () => writevFully(fh, [header], 0));
      await atStep('fdatasync', tmp, () => fh.datasync());
    } catch (err) {
      await fh.close().catch(() => undefined);
      await this.fs.unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    await this.fs.rename(tmp, join(this.dir, name));
    await syncDirectory(this.dir, this.fs);
    await this.prune();
  }

  /** Snapshot file indexes on disk, newest first. */
  private async indexes(): Promise<number[]> {
    const out: number[] = [];
    for (const name of await this.fs.readdir(this.dir)) {
      const m = SNAPSHOT_NAME_RE.exec(name);
      if (m) out.push(Number(m[1]));
    }
    return out.sort((a, b) => b - a);
  }

  private async prune(): Promise<void> {
    for (const index of (await this.indexes()).slice(STORAGE_LIMITS.snapshotsKept)) {
      await this.fs.unlink(join(this.dir, snapshotFileName(index)));
    }
  }

  /** The newest snapshot that verifies; a damaged newer one is reported and skipped. */
  async loadLatest(): Promise<LoadedSnapshot | undefined> {
    for (const index of await this.indexes()) {
      const name = snapshotFileName(index);
      const snap = await readSnapshotFile(this.fs, join(this.dir, name), index);
      if (typeof snap !== 'string') return snap;
      this.log.error(`DAMAGED ${name} (${snap}); falling back to an older snapshot`, { file: name });
    }
    return undefined;
  }
}
