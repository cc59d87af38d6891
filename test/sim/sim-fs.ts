// An in-memory, fully deterministic FileSystem (src/runtime/fs.ts) for the simulator, so the
// shipped storage code (SegmentedWal, HardStateStore, SnapshotStore, snapshot staging) runs on a
// disk whose power losses, torn writes, flipped bits and full states the seed decides. No real
// time, no real I/O, no Math.random: the same calls in the same order give the same disk.
//
// The model
//
// - A file (an inode) has durable bytes and a list of unsynced writes, in the order they were
//   made. Reads see the current contents: the durable bytes with every unsynced write applied.
// - `datasync()` / `sync()` on any handle of a file makes all of that file's writes durable (as
//   fdatasync does: it covers writes through every descriptor of the file).
// - A power loss (`crash(prng)`) decides, for each unsynced write of each file in order of the
//   write, with the seeded PRNG: kept (all of it reaches the platter), lost (none of it), or torn
//   (a prefix of it up to a 512-byte sector boundary strictly inside the write is kept; a write
//   inside one sector cannot tear and is lost instead). Kept and torn parts land in write order,
//   so a later kept write overwrites an earlier one; a lost write that had extended the file
//   leaves it shorter (or with a zero hole below a later kept write), as a real disk does.
// - Directory operations are durable at once: creating a file (open with a create flag,
//   writeFile), mkdir, rename, unlink, rm, and truncation (including open 'w' emptying a file). The
//   real code fsyncs a file's contents before it renames or relies on a name, so the crash model
//   only has to decide about contents; the directory fsyncs the code does are accepted and do
//   nothing. A file created and written but never synced is therefore present after a crash, empty
//   or with whatever of its writes the PRNG kept.
// - After a crash every handle and every operation of the powered-off machine is dead: nothing it
//   started settles, and the old SimFs view does nothing more (its calls never settle either), so
//   code of a crashed node left running cannot touch the disk. `crash` returns the view for the
//   next boot. `restart()` is a process crash (kill -9): the operating system keeps what was
//   written, synced or not; it also returns a new view and kills the old one.
// - Disk space: the sum of all file sizes (open files that are unlinked included, until closed)
//   may not exceed `capacityBytes`; a write that would grow a file past it fails with ENOSPC and
//   writes nothing. Overwriting allocated bytes never fails. `setCapacity` changes the budget.
//   `refuseWrites(true)` makes every write fail with ENOSPC, overwrites too: a full copy-on-write
//   file system (btrfs, ZFS) or thin-provisioned volume, where an overwrite needs new blocks.
// - `flipBit` changes a bit in both the durable and the current bytes (media corruption).
// - Optional `delay(op, path)`: every operation first awaits the promise it returns (undefined =
//   complete at once), so a virtual scheduler can decide when completions happen. An operation
//   takes effect when its delay ends, not when it was called. A handle's operations name the
//   file's current path (renames followed), as a scheduler keyed on file names expects.
//
// Errors have Node's shape: an Error with `code`, `syscall` and `path` ('ENOENT', 'EEXIST',
// 'ENOSPC', 'EISDIR', 'ENOTDIR', 'ENOTEMPTY', 'EBADF').

import { posix } from 'node:path';

import type { FileHandle, FileStat, FileSystem, OpenFlags } from '../../src/runtime/fs';
import type { Prng } from './prng';

export const SECTOR_BYTES = 512;

export type SimFsOp = 'read' | 'write' | 'sync' | 'meta';

export interface SimFsOptions {
  /** Total bytes all files may hold (default: unlimited). */
  capacityBytes?: number;
  /** Awaited before each operation takes effect; undefined = at once. */
  delay?: (op: SimFsOp, path: string) => Promise<void> | undefined;
}

/** What a crash did to the unsynced writes (for tests and simulation logs). */
export interface CrashOutcome {
  kept: number;
  lost: number;
  torn: number;
}

const NEVER: Promise<never> = new Promise<never>(() => undefined);

function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EEXIST: 'file already exists',
    ENOSPC: 'no space left on device',
    EISDIR: 'illegal operation on a directory',
    ENOTDIR: 'not a directory',
    ENOTEMPTY: 'directory not empty',
    EBADF: 'bad file descriptor',
    EINVAL: 'invalid argument',
  };
  const err = new Error(`${code}: ${text[code] ?? 'error'}, ${syscall} '${path}'`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}

/** A growable byte array whose bytes past `size` are always zero. */
class Bytes {
  buf = Buffer.alloc(0);
  size = 0;

  write(pos: number, src: Buffer): void {
    const end = pos + src.length;
    if (end > this.buf.length) {
      const grown = Buffer.alloc(Math.max(end, this.buf.length * 2, SECTOR_BYTES));
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    }
    src.copy(this.buf, pos);
    this.size = Math.max(this.size, end);
  }

  truncate(len: number): void {
    if (len < this.size) this.buf.fill(0, len, this.size);
    else if (len > this.buf.length) this.write(len, Buffer.alloc(0));
    this.size = len;
  }

  copyFrom(other: Bytes): void {
    this.buf = Buffer.from(other.buf.subarray(0, other.size));
    this.size = other.size;
  }
}

interface PendingWrite {
  pos: number;
  data: Buffer;
}

class Inode {
  constructor(
    /** Its path, kept up to date by renames (the delay hook is told where a handle's file is now). */
    public path: string,
  ) {}
  readonly current = new Bytes();
  readonly durable = new Bytes();
  pending: PendingWrite[] = [];
  linked = true;
  openHandles = 0;
}

type Entry = Inode | 'dir';

/** The disk all views of one machine share (a SimFs is one boot's view of it). */
export class Disk {
  readonly entries = new Map<string, Entry>([['/', 'dir']]);
  capacity: number;
  /** Every write fails with ENOSPC, overwrites included (a full copy-on-write file system). */
  refusingWrites = false;
  /** Bumped by every crash or restart: handles and views of an older epoch are dead. */
  epoch = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  used(): number {
    let sum = 0;
    for (const inode of this.inodes()) sum += inode.current.size;
    return sum;
  }

  /** Inodes holding space: linked ones and unlinked ones still open. */
  private inodes(): Set<Inode> {
    const out = new Set<Inode>(this.openUnlinked);
    for (const e of this.entries.values()) if (e !== 'dir') out.add(e);
    return out;
  }

  readonly openUnlinked = new Set<Inode>();

  unlinked(inode: Inode): void {
    inode.linked = false;
    if (inode.openHandles > 0) this.openUnlinked.add(inode);
  }

  closed(inode: Inode): void {
    inode.openHandles--;
    if (inode.openHandles === 0) this.openUnlinked.delete(inode);
  }
}

function norm(p: string): string {
  return posix.resolve('/', p);
}

function parentOf(p: string): string {
  return posix.dirname(p);
}

function isUnder(p: string, dir: string): boolean {
  return dir === '/' ? p !== '/' : p.startsWith(dir + '/');
}

export class SimFs implements FileSystem {
  private readonly disk: Disk;
  private readonly epoch: number;

  constructor(
    private readonly opts: SimFsOptions = {},
    disk?: Disk,
  ) {
    this.disk = disk ?? new Disk(opts.capacityBytes ?? Number.POSITIVE_INFINITY);
    this.epoch = this.disk.epoch;
  }

  /** Whether this view is the machine's current one (false after a crash or restart). */
  get alive(): boolean {
    return this.epoch === this.disk.epoch;
  }

  // ---- fault injection and inspection ---------------------------------------------------------------

  /**
   * A power loss: each unsynced write is kept, lost or torn as the PRNG decides (see the top of
   * the file). Returns the view to boot with; this one and all its handles are dead.
   */
  crash(prng: Prng): { fs: SimFs; outcome: CrashOutcome } {
    const outcome: CrashOutcome = { kept: 0, lost: 0, torn: 0 };
    const seen = new Set<Inode>();
    for (const key of [...this.disk.entries.keys()].sort()) {
      const e = this.disk.entries.get(key)!;
      if (e === 'dir' || seen.has(e)) continue;
      seen.add(e);
      for (const w of e.pending) {
        const choice = prng.int(0, 2);
        const firstBoundary = (Math.floor(w.pos / SECTOR_BYTES) + 1) * SECTOR_BYTES;
        const end = w.pos + w.data.length;
        if (choice === 0) {
          e.durable.write(w.pos, w.data);
          outcome.kept++;
        } else if (choice === 2 && firstBoundary < end) {
          const boundaries = Math.ceil((end - firstBoundary) / SECTOR_BYTES);
          const cut = firstBoundary + prng.int(0, boundaries - 1) * SECTOR_BYTES;
          e.durable.write(w.pos, w.data.subarray(0, cut - w.pos));
          outcome.torn++;
        } else {
          outcome.lost++;
        }
      }
      e.pending = [];
      e.current.copyFrom(e.durable);
    }
    return { fs: this.reboot(), outcome };
  }

  /** A process crash: the operating system keeps every write, synced or not. Returns the next view. */
  restart(): SimFs {
    return this.reboot();
  }

  private reboot(): SimFs {
    this.disk.epoch++;
    this.disk.openUnlinked.clear();
    for (const e of this.disk.entries.values()) if (e !== 'dir') e.openHandles = 0;
    return new SimFs(this.opts, this.disk);
  }

  /** Flips bit `bit` (0-7) of the byte at `byteOffset` of a file, durably (media corruption). */
  flipBit(path: string, byteOffset: number, bit: number): void {
    const inode = this.disk.entries.get(norm(path));
    if (!inode || inode === 'dir') throw fsError('ENOENT', 'flipBit', path);
    if (byteOffset < 0 || byteOffset >= inode.current.size) throw new RangeError(`flipBit: offset ${byteOffset} is outside ${path}`);
    const mask = 1 << bit;
    inode.current.buf[byteOffset]! ^= mask;
    if (byteOffset < inode.durable.size) inode.durable.buf[byteOffset]! ^= mask;
    for (const w of inode.pending) {
      if (byteOffset >= w.pos && byteOffset < w.pos + w.data.length) w.data[byteOffset - w.pos]! ^= mask;
    }
  }

  /** Changes the space budget (undefined: unlimited). Space already used is kept even if over it. */
  setCapacity(bytes: number | undefined): void {
    this.disk.capacity = bytes ?? Number.POSITIVE_INFINITY;
  }

  /** While on, every write fails with ENOSPC, even one into allocated space (see the file comment). */
  refuseWrites(on: boolean): void {
    this.disk.refusingWrites = on;
  }

  /** Bytes held by all files. */
  usedBytes(): number {
    return this.disk.used();
  }

  /** Unsynced writes of a file (0 if it does not exist). */
  unsyncedWrites(path: string): number {
    const e = this.disk.entries.get(norm(path));
    return e && e !== 'dir' ? e.pending.length : 0;
  }

  /** Every path on the disk, sorted (directories included). */
  paths(): string[] {
    return [...this.disk.entries.keys()].sort();
  }

  // ---- FileSystem --------------------------------------------------------------------------------

  /** Waits out the delay hook; never settles once this view is dead. */
  async step(op: SimFsOp, path: string, epoch: number = this.epoch): Promise<void> {
    if (epoch !== this.disk.epoch) return NEVER;
    const wait = this.opts.delay?.(op, path);
    if (wait) await wait;
    if (epoch !== this.disk.epoch) return NEVER;
  }

  async open(path: string, flags: OpenFlags): Promise<FileHandle> {
    await this.step('meta', path);
    const p = norm(path);
    let e = this.disk.entries.get(p);
    if (flags === 'wx+' && e !== undefined) throw fsError('EEXIST', 'open', path);
    if (e === 'dir') {
      if (flags !== 'r') throw fsError('EISDIR', 'open', path);
      return new SimHandle(this, this.disk, undefined, path, true, false);
    }
    if (e === undefined) {
      if (flags === 'r' || flags === 'r+') throw fsError('ENOENT', 'open', path);
      this.requireParentDir(p, 'open', path);
      e = new Inode(p);
      this.disk.entries.set(p, e);
    } else if (flags === 'w' || flags === 'w+') {
      truncateInode(e, 0);
    }
    e.openHandles++;
    return new SimHandle(this, this.disk, e, path, flags !== 'w', flags !== 'r');
  }

  async mkdir(path: string, _opts: { recursive: true }): Promise<undefined> {
    await this.step('meta', path);
    const p = norm(path);
    const missing: string[] = [];
    for (let at = p; ; at = parentOf(at)) {
      const e = this.disk.entries.get(at);
      if (e === 'dir') break;
      if (e !== undefined) throw fsError(at === p ? 'EEXIST' : 'ENOTDIR', 'mkdir', path);
      missing.push(at);
    }
    for (const at of missing.reverse()) this.disk.entries.set(at, 'dir');
    return undefined;
  }

  async readdir(path: string): Promise<string[]> {
    await this.step('meta', path);
    const p = norm(path);
    const e = this.disk.entries.get(p);
    if (e === undefined) throw fsError('ENOENT', 'scandir', path);
    if (e !== 'dir') throw fsError('ENOTDIR', 'scandir', path);
    return this.children(p).map((c) => posix.basename(c));
  }

  async rename(from: string, to: string): Promise<void> {
    await this.step('meta', from);
    const src = norm(from);
    const dst = norm(to);
    const e = this.disk.entries.get(src);
    if (e === undefined) throw fsError('ENOENT', 'rename', from);
    this.requireParentDir(dst, 'rename', to);
    if (src === dst) return;
    const existing = this.disk.entries.get(dst);
    if (e === 'dir') {
      if (isUnder(dst, src)) throw fsError('EINVAL', 'rename', to);
      if (existing !== undefined && existing !== 'dir') throw fsError('ENOTDIR', 'rename', to);
      if (existing === 'dir' && this.children(dst).length > 0) throw fsError('ENOTEMPTY', 'rename', to);
      const moved = [src, ...this.descendants(src)];
      const entries = moved.map((k) => [k, this.disk.entries.get(k)!] as const);
      for (const [k] of entries) this.disk.entries.delete(k);
      for (const [k, v] of entries) {
        const at = dst + k.slice(src.length);
        this.disk.entries.set(at, v);
        if (v !== 'dir') v.path = at;
      }
      return;
    }
    if (existing === 'dir') throw fsError('EISDIR', 'rename', to);
    if (existing !== undefined) this.disk.unlinked(existing);
    this.disk.entries.delete(src);
    this.disk.entries.set(dst, e);
    e.path = dst;
  }

  async unlink(path: string): Promise<void> {
    await this.step('meta', path);
    const p = norm(path);
    const e = this.disk.entries.get(p);
    if (e === undefined) throw fsError('ENOENT', 'unlink', path);
    if (e === 'dir') throw fsError('EISDIR', 'unlink', path);
    this.disk.entries.delete(p);
    this.disk.unlinked(e);
  }

  async rm(path: string, _opts: { recursive: true; force: true }): Promise<void> {
    await this.step('meta', path);
    const p = norm(path);
    if (p === '/') throw fsError('EINVAL', 'rm', path);
    if (!this.disk.entries.has(p)) return;
    for (const k of [p, ...this.descendants(p)]) {
      const e = this.disk.entries.get(k)!;
      this.disk.entries.delete(k);
      if (e !== 'dir') this.disk.unlinked(e);
    }
  }

  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  async readFile(path: string, encoding?: 'utf8'): Promise<Buffer | string> {
    await this.step('read', path);
    const e = this.disk.entries.get(norm(path));
    if (e === undefined) throw fsError('ENOENT', 'open', path);
    if (e === 'dir') throw fsError('EISDIR', 'read', path);
    const data = Buffer.from(e.current.buf.subarray(0, e.current.size));
    return encoding ? data.toString(encoding) : data;
  }

  async writeFile(path: string, data: string | Uint8Array): Promise<void> {
    await this.step('write', path);
    const p = norm(path);
    let e = this.disk.entries.get(p);
    if (e === 'dir') throw fsError('EISDIR', 'open', path);
    if (e === undefined) {
      this.requireParentDir(p, 'open', path);
      e = new Inode(p);
      this.disk.entries.set(p, e);
    } else {
      truncateInode(e, 0);
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    writeInode(this.disk, e, 0, bytes, path);
  }

  async stat(path: string): Promise<FileStat> {
    await this.step('meta', path);
    const e = this.disk.entries.get(norm(path));
    if (e === undefined) throw fsError('ENOENT', 'stat', path);
    return statOf(e);
  }

  private requireParentDir(p: string, syscall: string, path: string): void {
    const parent = this.disk.entries.get(parentOf(p));
    if (parent === undefined) throw fsError('ENOENT', syscall, path);
    if (parent !== 'dir') throw fsError('ENOTDIR', syscall, path);
  }

  /** Full paths of the direct children of directory `p`, sorted. */
  private children(p: string): string[] {
    return [...this.disk.entries.keys()].filter((k) => k !== p && parentOf(k) === p).sort();
  }

  private descendants(p: string): string[] {
    return [...this.disk.entries.keys()].filter((k) => isUnder(k, p));
  }
}

function statOf(e: Entry): FileStat {
  const dir = e === 'dir';
  return { size: dir ? 0 : e.current.size, isFile: () => !dir, isDirectory: () => dir };
}

/** Truncation is a metadata change, durable at once; unsynced data past the new end is dropped. */
function truncateInode(e: Inode, len: number): void {
  e.current.truncate(len);
  e.durable.truncate(len);
  const kept: PendingWrite[] = [];
  for (const w of e.pending) {
    if (w.pos >= len) continue;
    kept.push(w.pos + w.data.length > len ? { pos: w.pos, data: w.data.subarray(0, len - w.pos) } : w);
  }
  e.pending = kept;
}

/** Applies a write to the current bytes and records it as unsynced; ENOSPC if it grows past the budget. */
function writeInode(disk: Disk, e: Inode, pos: number, data: Buffer, path: string): void {
  if (data.length === 0) return;
  const growth = Math.max(0, pos + data.length - e.current.size);
  if (disk.refusingWrites || (growth > 0 && disk.used() + growth > disk.capacity)) throw fsError('ENOSPC', 'write', path);
  const copy = Buffer.from(data);
  e.current.write(pos, copy);
  e.pending.push({ pos, data: copy });
}

class SimHandle implements FileHandle {
  private closed = false;
  private readonly epoch: number;

  constructor(
    private readonly fs: SimFs,
    private readonly disk: Disk,
    /** undefined: a directory opened to be fsynced. */
    private readonly inode: Inode | undefined,
    private readonly path: string,
    private readonly readable: boolean,
    private readonly writable: boolean,
  ) {
    this.epoch = disk.epoch;
  }

  private async begin(op: SimFsOp, syscall: string): Promise<void> {
    await this.fs.step(op, this.inode?.path ?? this.path, this.epoch);
    if (this.closed) throw fsError('EBADF', syscall, this.path);
  }

  private file(syscall: string, need: 'read' | 'write'): Inode {
    if (!this.inode) throw fsError('EISDIR', syscall, this.path);
    if (need === 'read' ? !this.readable : !this.writable) throw fsError('EBADF', syscall, this.path);
    return this.inode;
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    await this.begin('read', 'read');
    const e = this.file('read', 'read');
    const n = Math.max(0, Math.min(length, e.current.size - position));
    if (n > 0) e.current.buf.copy(buffer, offset, position, position + n);
    return { bytesRead: n };
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    await this.begin('write', 'write');
    writeInode(this.disk, this.file('write', 'write'), position, buffer.subarray(offset, offset + length), this.path);
    return { bytesWritten: length };
  }

  async writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> {
    await this.begin('write', 'writev');
    const data = Buffer.concat(buffers);
    writeInode(this.disk, this.file('writev', 'write'), position, data, this.path);
    return { bytesWritten: data.length };
  }

  datasync(): Promise<void> {
    return this.sync();
  }

  async sync(): Promise<void> {
    await this.begin('sync', 'fsync');
    const e = this.inode;
    if (!e) return; // a directory: its entries are durable already
    for (const w of e.pending) e.durable.write(w.pos, w.data);
    e.pending = [];
    // Metadata sync: the durable size is the current one (a truncation is durable already).
    if (e.durable.size !== e.current.size) e.durable.truncate(e.current.size);
  }

  async truncate(length = 0): Promise<void> {
    await this.begin('write', 'ftruncate');
    const e = this.file('ftruncate', 'write');
    const growth = Math.max(0, length - e.current.size);
    if (growth > 0 && this.disk.used() + growth > this.disk.capacity) throw fsError('ENOSPC', 'ftruncate', this.path);
    truncateInode(e, length);
  }

  async stat(): Promise<FileStat> {
    await this.begin('meta', 'fstat');
    return statOf(this.inode ?? 'dir');
  }

  async readFile(): Promise<Buffer> {
    await this.begin('read', 'read');
    const e = this.file('read', 'read');
    return Buffer.from(e.current.buf.subarray(0, e.current.size));
  }

  async close(): Promise<void> {
    await this.begin('meta', 'close');
    this.closed = true;
    if (this.inode) this.disk.closed(this.inode);
  }
}
