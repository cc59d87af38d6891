// Tests run from dist/test/...; files of the repository (docs, README) are found by walking up to
// the directory that holds package.json and the file.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** The absolute path of `rel` (e.g. 'docs/errors.md') in the repository these tests belong to. */
export function findRepoFile(rel: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, rel))) return path.join(dir, rel);
    if (path.dirname(dir) === dir) throw new Error(`${rel} not found above ${__dirname}`);
  }
}
