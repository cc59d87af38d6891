// Small real file systems for tests that need a full or read-only disk: tmpfs mounted by root.
// Tests that need one skip (saying why) when not root or when mount is refused.

import { execFileSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import path from 'node:path';

/** Why a tmpfs cannot be mounted here, or undefined when it can (we are root). */
export function tmpfsUnavailable(): string | undefined {
  return process.getuid?.() === 0 ? undefined : 'not running as root: cannot mount a tmpfs';
}

/** Mounts a tmpfs of `sizeMib` at `dir` (read-only with `readOnly`); returns why not, or undefined. */
export function mountTmpfs(dir: string, sizeMib: number, opts: { readOnly?: boolean } = {}): string | undefined {
  const why = tmpfsUnavailable();
  if (why) return why;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `${opts.readOnly ? 'ro,' : ''}size=${sizeMib}m`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `mount -t tmpfs failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Unmounts `dir`, lazily if something still holds it open (a killed server's files). */
export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
}

/** Writes a file in `dir` until its file system is full; returns the file's path. */
export async function fillFileSystem(dir: string): Promise<string> {
  const file = path.join(dir, 'filler');
  const fh = await open(file, 'a');
  try {
    // Big chunks first, then page-sized ones for what a partial big chunk left free.
    for (const size of [256 * 1024, 4096]) {
      const chunk = Buffer.alloc(size, 7);
      for (;;) {
        try {
          await fh.write(chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    await fh.close();
  }
  return file;
}
