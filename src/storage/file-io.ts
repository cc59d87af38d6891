// Positional file I/O that loops over short transfers, zero-filling, and directory fsync: the
// few primitives the WAL and the snapshot store build their durability on.
import type { FileHandle, FileSystem } from '../runtime/fs';
import { nodeFs } from '../runtime/node-fs';
import { STORAGE_LIMITS } from './limits';

const ZEROS = Buffer.alloc(STORAGE_LIMITS.zeroFillChunkBytes);

/** Writes all of `buffers` contiguously at `position`, retrying short writes. */
export async function writevFully(fh: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let bufs = buffers;
  let pos = position;
  let remaining = bufs.reduce((sum, b) => sum + b.length, 0);
  while (remaining > 0) {
    const { bytesWritten } = await fh.writev(bufs, pos);
    if (bytesWritten <= 0) throw new Error(`writev wrote nothing at offset ${pos}`);
    remaining -= bytesWritten;
    pos += bytesWritten;
    if (remaining > 0) bufs = dropPrefix(bufs, bytesWritten);
  }
}

function dropPrefix(bufs: Buffer[], bytes: number): Buffer[] {
  let skip = bytes;
  let k = 0;
  while (k < bufs.length && skip >= bufs[k]!.length) {
    skip -= bufs[k]!.length;
    k++;
  }
  const rest = bufs.slice(k);
  if (rest.length > 0 && skip > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

/** Reads exactly `length` bytes at `position` into `buf[offset..]`; throws if the file ends first. */
export async function readFully(
  fh: FileHandle,
  buf: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, offset + done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at offset ${position + done}`);
    done += bytesRead;
  }
}

/** Overwrites [position, position + length) with zeros. */
export async function zeroFill(fh: FileHandle, position: number, length: number): Promise<void> {
  let pos = position;
  const end = position + length;
  while (pos < end) {
    const n = Math.min(ZEROS.length, end - pos);
    const { bytesWritten } = await fh.write(ZEROS, 0, n, pos);
    if (bytesWritten <= 0) throw new Error(`write of zeros failed at offset ${pos}`);
    pos += bytesWritten;
  }
}

/** Makes directory entries (creates, renames, unlinks) in `dir` durable. */
export async function syncDirectory(dir: string, fs: FileSystem = nodeFs): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Whether anything exists at `p` (a stat that fails for any reason counts as no). */
export async function pathExists(p: string, fs: FileSystem = nodeFs): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}
