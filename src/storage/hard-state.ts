// Raft's hard state (term, votedFor, commitIndex) in one small file with two slots written
// alternately: a crash in the middle of a write leaves the other slot intact, and the slot with
// the higher sequence number and a valid checksum wins at start-up. One write + fdatasync per
// change; no rename, so it is cheap enough to do before every vote.

import path from 'node:path';

import type { FileHandle, FileSystem } from '../runtime/fs';
import { nodeFs } from '../runtime/node-fs';

import { crc32c } from './crc32c';
import { atStep } from './disk-stall';

export interface HardState {
  term: number;
  /** Empty string: no vote in this term. */
  votedFor: string;
  commitIndex: number;
}

const FILE_NAME = 'hardstate';
const MAGIC = 0x48535431; // "HST1"
/** magic u32, crc u32, seq f64, term f64, commitIndex f64, votedFor length u16, votedFor bytes. */
const FIXED_BYTES = 4 + 4 + 8 + 8 + 8 + 2;
const VOTED_FOR_BYTES_MAX = 256;
const SLOT_BYTES = 512;

const EMPTY_STATE: HardState = { term: 0, votedFor: '', commitIndex: 0 };

/** The valid slot with the higher sequence number, if any. */
async function readBestSlot(fh: FileHandle): Promise<{ seq: number; state: HardState } | undefined> {
  const buf = Buffer.alloc(SLOT_BYTES * 2);
  await fh.read(buf, 0, buf.length, 0);
  let best: { seq: number; state: HardState } | undefined;
  for (const slot of [0, 1]) {
    const decoded = decodeSlot(buf.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES));
    if (decoded && (!best || decoded.seq > best.seq)) best = decoded;
  }
  return best;
}

/**
 * The hard state start-up would read from `dir`, without creating anything: undefined when the
 * file is missing, `valid: false` when it holds data but no slot verifies (start-up then starts
 * from term 0 with no vote).
 */
export async function inspectHardState(
  dir: string,
  fs: FileSystem = nodeFs,
): Promise<{ state: HardState; valid: boolean } | undefined> {
  let fh: FileHandle;
  try {
    fh = await fs.open(path.join(dir, FILE_NAME), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    // An empty file is a store created but never saved to (nothing to lose), not damage.
    if ((await fh.stat()).size === 0) return { state: { ...EMPTY_STATE }, valid: true };
    const best = await readBestSlot(fh);
    return { state: best?.state ?? { ...EMPTY_STATE }, valid: best !== undefined };
  } finally {
    await fh.close();
  }
}

export class HardStateStore {
  private seq: number;

  private constructor(
    private readonly fh: FileHandle,
    private readonly file: string,
    private state: HardState,
    lastSeq: number,
  ) {
    this.seq = lastSeq;
  }

  /** Opens (creating if missing) the store in `dir` and reads the newest valid slot. */
  static async open(dir: string, fs: FileSystem = nodeFs): Promise<HardStateStore> {
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, FILE_NAME);
    // 'r+' allows positional writes ('a+' would append); create the file first when missing.
    const fh = await fs.open(file, 'r+').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      return fs.open(file, 'w+');
    });
    const best = await readBestSlot(fh);
    return new HardStateStore(fh, file, best?.state ?? EMPTY_STATE, best?.seq ?? 0);
  }

  get current(): HardState {
    return { ...this.state };
  }

  /**
   * Durably records `state` (resolves after fdatasync). A failed call changes nothing in memory,
   * so calling it again re-writes the whole slot before syncing (safe after a failed fsync).
   */
  async save(state: HardState): Promise<void> {
    const seq = this.seq + 1;
    const slot = encodeSlot(seq, state);
    await atStep('write', this.file, () => this.fh.write(slot, 0, slot.length, (seq % 2) * SLOT_BYTES));
    await atStep('fdatasync', this.file, () => this.fh.datasync());
    this.seq = seq;
    this.state = { ...state };
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function encodeSlot(seq: number, s: HardState): Buffer {
  const voted = Buffer.from(s.votedFor, 'utf8');
  if (voted.length > VOTED_FOR_BYTES_MAX) throw new RangeError('hard state: votedFor is too long');
  if (!Number.isSafeInteger(s.term) || s.term < 0 || !Number.isSafeInteger(s.commitIndex) || s.commitIndex < 0) {
    throw new RangeError(`hard state: bad term ${s.term} or commitIndex ${s.commitIndex}`);
  }
  const buf = Buffer.alloc(SLOT_BYTES);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeDoubleLE(seq, 8);
  buf.writeDoubleLE(s.term, 16);
  buf.writeDoubleLE(s.commitIndex, 24);
  buf.writeUInt16LE(voted.length, 32);
  voted.copy(buf, FIXED_BYTES);
  buf.writeUInt32LE(crc32c(buf.subarray(8, FIXED_BYTES + voted.length)), 4);
  return buf;
}

function decodeSlot(buf: Buffer): { seq: number; state: HardState } | undefined {
  if (buf.length < FIXED_BYTES || buf.readUInt32LE(0) !== MAGIC) return undefined;
  const votedLen = buf.readUInt16LE(32);
  if (votedLen > VOTED_FOR_BYTES_MAX || FIXED_BYTES + votedLen > buf.length) return undefined;
  if (crc32c(buf.subarray(8, FIXED_BYTES + votedLen)) !== buf.readUInt32LE(4)) return undefined;
  return {
    seq: buf.readDoubleLE(8),
    state: {
      term: buf.readDoubleLE(16),
      commitIndex: buf.readDoubleLE(24),
      votedFor: buf.toString('utf8', FIXED_BYTES, FIXED_BYTES + votedLen),
    },
  };
}
