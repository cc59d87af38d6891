// Runs the payment-notification example end to end: one publish per payment reaches the
// settlement queue at once and the risk-control endpoint after its outage (pushes retried).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

const RUN_JS = path.join(__dirname, '..', '..', 'examples', 'payment-notification', 'run.js');

void test('payment notification: settled at once, risk control reached after its outage', { timeout: 90_000 }, async () => {
  const child = spawn(process.execPath, [RUN_JS, '--payments', '8', '--down-ms', '2000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, out);
  assert.match(out, /^settled 8\/8 after \d+ ms while risk control was down/m, out);
  const seen = /^risk control saw 8\/8 after \d+ ms; it refused (\d+) pushes while down; 0 still waiting/m.exec(out);
  assert.ok(seen, out);
  assert.ok(Number(seen[1]) >= 1, 'pushes were refused while risk control was down, and retried');
  assert.match(out, /^all payments settled and checked/m, out);
});
