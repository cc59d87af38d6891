// Runs the image-pipeline example end to end (server, three worker processes, one SIGKILLed
// mid-job) and checks that it succeeds and that the killed worker's job was redelivered.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const RUN_JS = path.join(__dirname, '..', '..', 'examples', 'image-pipeline', 'run.js');

void test('image pipeline: every job done, the killed worker’s job redelivered', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, [RUN_JS, '--jobs', '12'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const output = `--- stdout\n${stdout}--- stderr\n${stderr}`;
  assert.equal(code, 0, output);
  assert.match(stdout, /^killed (worker-\d) \(SIGKILL\) while it held (image-\d{4})/m, output);
  const redelivered = /^redelivered: (image-\d{4}) \((worker-\d) was killed holding it; done by (worker-\d) on delivery (\d+)/m.exec(stdout);
  assert.ok(redelivered, output);
  const [, , killed, finisher, delivery] = redelivered;
  assert.notEqual(finisher, killed, output);
  assert.ok(Number(delivery) >= 2, output);
  assert.match(stdout, /^all 12 jobs done/m, output);
});
