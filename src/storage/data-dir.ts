// One owner per data directory. Two servers writing one write-ahead log destroy it, so a server
// takes an exclusive flock(2) on <dataDir>/LOCK before anything else touches the directory and
// holds it for its whole life. flock belongs to the open file description, so the kernel drops
// it when the process dies however it dies (kill -9 included): a stale lock can never block a
// restart, and it works across PID and network namespaces on one kernel (containers sharing a
// volume). The holder writes who it is into the file so the loser's error can name it.
//
// Before locking, the directory itself is checked, so a bad --data-dir fails at once with the
// reason instead of later (or never: Node's recursive mkdir loops forever under /proc).

import { type Stats, closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, statfsSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { DataDirInUseError, DataDirUnusableError } from './data-dir-errors';
import type { Logger } from '../protocol/log';

export { DataDirInUseError, DataDirUnusableError } from './data-dir-errors';

export const LOCK_FILE = 'LOCK';
const PROBE_FILE = '.write-probe';
/** The holder's description is small; more than this in LOCK is not ours. */
const MAX_HOLDER_BYTES = 4096;

/** Kernel-made file systems (statfs f_type, linux/magic.h): they hold no data and some loop mkdir. */
const PSEUDO_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x1cd1, 'devpts'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0x62656570, 'configfs'],
  [0xde5e81e4, 'efivarfs'],
  [0xf97cff8c, 'selinuxfs'],
  [0x42494e4d, 'binfmt_misc'],
  [0x19800202, 'mqueue'],
  [0x6e736673, 'nsfs'],
]);

/** Network file systems, where flock is only as good as the server's lock support. */
const NETWORK_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x6969, 'NFS'],
  [0xff534d42, 'CIFS'],
  [0xfe534d42, 'SMB2'],
  [0x517b, 'SMB'],
]);

/** Who holds a data directory, as written into its LOCK file. */
export interface DataDirHolder {
  pid: number;
  hostname: string;
  /** ISO time the holder took the lock. */
  since: string;
  nodeId?: string;
  /** The client API, once the holder listens. */
  apiUrl?: string;
  /** Where the holder listens for its peers (a member of a replicated set). */
  peerAddress?: string;
}

export interface DataDirLock {
  /** The directory, as an absolute path. */
  readonly dir: string;
  /** Adds what became known since locking (ports) to the description in LOCK. */
  describe(more: Partial<Pick<DataDirHolder, 'nodeId' | 'apiUrl' | 'peerAddress'>>): void;
  /** Gives the directory up. Idempotent. */
  release(): void;
}

export interface AcquireOptions {
  nodeId?: string;
  log?: Logger;
}

type Flock = (fd: number, flags: 'exnb' | 'un') => void;
let flockImpl: Flock | undefined;

/** fs-ext is a native addon: loaded on first use, so code that only imports the errors never loads it. */
async function flock(): Promise<Flock> {
  try {
    flockImpl ??= (await import('fs-ext')).flockSync;
  } catch (err) {
    // Its install script builds the addon; an install that skipped scripts leaves it missing.
    throw new Error(
      `cannot load the fs-ext native addon that locks the data directory (${(err instanceof Error ? err.message : String(err)).split('\n')[0]}); ` +
        'rebuild it with "npm rebuild fs-ext" and make sure install scripts are allowed for it',
    );
  }
  return flockImpl;
}

/**
 * Checks `dataDir`, creates its last component if missing, and locks it for this process.
 * Throws DataDirInUseError when another process holds it, DataDirUnusableError when it cannot
 * be a data directory.
 */
export async function acquireDataDir(dataDir: string, opts: AcquireOptions = {}): Promise<DataDirLock> {
  const dir = path.resolve(dataDir);
  const lockFlock = await flock();
  prepareDirectory(dir, opts.log);

  let fd: number;
  try {
    // No O_TRUNC: if another process holds the lock, its description must survive our open.
    fd = openSync(path.join(dir, LOCK_FILE), 'a+');
  } catch (err) {
    throw unusable(dir, `it is not writable (cannot open ${LOCK_FILE}: ${reason(err)})`);
  }
  try {
    lockFlock(fd, 'exnb');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
      const holder = readHolder(fd);
      closeSync(fd);
      throw new DataDirInUseError(`data directory ${dir} is in use by ${describeHolder(holder)}; stop that server first, or give this one its own --data-dir`);
    }
    closeSync(fd);
    throw unusable(dir, `the file system does not support flock locks (${reason(err)}); use a local file system`);
  }

  const holder: DataDirHolder = { pid: process.pid, hostname: os.hostname(), since: new Date().toISOString() };
  if (opts.nodeId !== undefined) holder.nodeId = opts.nodeId;
  let released = false;
  const lock: DataDirLock = {
    dir,
    describe(more) {
      if (released) return;
      Object.assign(holder, more);
      try {
        writeHolder(fd, holder);
      } catch {
        // Only the text of a refusal depends on it: not worth stopping a running server for.
      }
    },
    release() {
      if (released) return;
      released = true;
      try {
        // Emptied while still locked: a LOCK with a description then means its holder lives (or crashed).
        ftruncateSync(fd, 0);
        lockFlock(fd, 'un');
      } catch {
        // Closing the descriptor below drops the lock anyway.
      } finally {
        closeSync(fd);
      }
    },
  };
  try {
    try {
      writeHolder(fd, holder);
    } catch (err) {
      // A full disk is writable, just full: the node starts and refuses writes until space returns.
      if (!isDiskFull(err)) throw err;
      opts.log?.warn(`data directory ${dir} is on a full file system (${reason(err)}); writes will be refused until space is freed`);
    }
    probeWritable(dir);
  } catch (err) {
    lock.release();
    throw err instanceof DataDirUnusableError ? err : unusable(dir, `it is not writable (cannot write ${LOCK_FILE}: ${reason(err)})`);
  }
  return lock;
}

/**
 * Throws DataDirInUseError when a running process holds `dataDir`'s lock; changes nothing (no
 * LOCK is created, no description written). For offline tools that must not read a log that a
 * live server is writing.
 */
export async function refuseIfInUse(dataDir: string): Promise<void> {
  const dir = path.resolve(dataDir);
  const lockFlock = await flock();
  let fd: number;
  try {
    fd = openSync(path.join(dir, LOCK_FILE), 'r');
  } catch {
    return; // No LOCK: no server ever held it (or the directory is not one; the tool says so).
  }
  try {
    lockFlock(fd, 'exnb');
    lockFlock(fd, 'un');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
      throw new DataDirInUseError(`data directory ${dir} is in use by ${describeHolder(readHolder(fd))}; stop that server first`);
    }
  } finally {
    closeSync(fd);
  }
}

/** Validates the path and creates the last component; never a recursive mkdir. */
function prepareDirectory(dir: string, log?: Logger): void {
  const st = statOrMissing(dir, dir);
  if (st === 'missing') {
    const parent = path.dirname(dir);
    const pst = statOrMissing(parent, dir);
    if (pst === 'missing') {
      throw unusable(dir, `its parent directory ${parent} does not exist (opencmq creates only the last component of --data-dir; create ${parent} first)`);
    }
    if (!pst.isDirectory()) throw unusable(dir, `its parent ${parent} is not a directory`);
    refusePseudo(dir, parent);
    try {
      mkdirSync(dir);
    } catch (err) {
      // Lost a race with another server creating it: fine, the lock decides.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw unusable(dir, `cannot create it: ${reason(err)}`);
    }
    if (!statSync(dir).isDirectory()) throw unusable(dir, 'it exists and is not a directory');
  } else if (!st.isDirectory()) {
    throw unusable(dir, 'it exists and is not a directory');
  } else {
    refusePseudo(dir, dir);
  }
  const network = NETWORK_FILE_SYSTEMS.get(statfsSync(dir).type);
  if (network !== undefined) {
    log?.warn(`data directory ${dir} is on ${network}: its lock (and fsync) are only as good as the file server's; use a local disk`);
  }
}

/** stat(p), or 'missing'; other failures are reported against the data directory `dir`. */
function statOrMissing(p: string, dir: string): Stats | 'missing' {
  try {
    return statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') throw unusable(dir, 'a component of its path is not a directory');
    throw unusable(dir, `cannot examine ${p}: ${reason(err)}`);
  }
}

function refusePseudo(dir: string, existing: string): void {
  let type: number;
  try {
    type = statfsSync(existing).type;
  } catch (err) {
    throw unusable(dir, reason(err));
  }
  const name = PSEUDO_FILE_SYSTEMS.get(type);
  if (name !== undefined) throw unusable(dir, `it is on the ${name} pseudo file system, which cannot hold data; choose a directory on a disk`);
}

/** The lock file may be writable where new files are not (permissions): the WAL needs new files. */
function probeWritable(dir: string): void {
  const probe = path.join(dir, PROBE_FILE);
  try {
    writeFileSync(probe, 'probe');
    unlinkSync(probe);
  } catch (err) {
    if (isDiskFull(err)) return; // Creatable once space returns; acquireDataDir warned already or the WAL will say.
    throw unusable(dir, `it is not writable (cannot create a file in it: ${reason(err)})`);
  }
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function writeHolder(fd: number, holder: DataDirHolder): void {
  const text = Buffer.from(`${JSON.stringify(holder)}\n`);
  ftruncateSync(fd, 0);
  // 'a+' appends wherever the position is; after truncating, the end is offset 0.
  let off = 0;
  while (off < text.length) off += writeSync(fd, text, off, text.length - off);
}

function readHolder(fd: number): DataDirHolder | undefined {
  try {
    const size = Math.min(fstatSync(fd).size, MAX_HOLDER_BYTES);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    const parsed = JSON.parse(buf.subarray(0, off).toString('utf8')) as Partial<DataDirHolder>;
    return typeof parsed.pid === 'number' ? (parsed as DataDirHolder) : undefined;
  } catch {
    // Empty (the holder is between locking and writing) or not ours.
    return undefined;
  }
}

function describeHolder(h: DataDirHolder | undefined): string {
  if (h === undefined) return 'another process (its LOCK file does not name it yet)';
  const details = [
    ...(h.nodeId !== undefined ? [`node ${h.nodeId}`] : []),
    ...(h.apiUrl !== undefined ? [`API ${h.apiUrl}`] : []),
    ...(h.peerAddress !== undefined ? [`peers ${h.peerAddress}`] : []),
    `since ${h.since}`,
  ];
  return `opencmq pid ${h.pid} on host ${h.hostname} (${details.join(', ')})`;
}

function unusable(dir: string, why: string): DataDirUnusableError {
  return new DataDirUnusableError(`data directory ${dir} cannot be used: ${why}`);
}

/** "EROFS: read-only file system, open '/x/LOCK'" → "EROFS: read-only file system". */
function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string') {
    const m = /^[A-Z0-9_]+: ([^,]+)/.exec(e.message);
    return `${e.code}: ${m ? m[1]! : e.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}
