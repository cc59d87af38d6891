// The production FileSystem: Node's fs/promises, unchanged. Its FileHandle is handed out as it
// is, so the storage code's reads, writes and fsyncs cost exactly what they cost before the seam.

import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';

import type { FileSystem } from './fs';

export const nodeFs: FileSystem = {
  open: (p, flags) => open(p, flags),
  mkdir: (p, opts) => mkdir(p, opts),
  readdir: (p) => readdir(p),
  rename: (from, to) => rename(from, to),
  unlink: (p) => unlink(p),
  rm: (p, opts) => rm(p, opts),
  readFile: ((p: string, encoding?: 'utf8') => (encoding ? readFile(p, encoding) : readFile(p))) as FileSystem['readFile'],
  writeFile: (p, data) => writeFile(p, data),
  stat: (p) => stat(p),
};
