// The scale model runs the real controller at the size it is given and prints every figure the
// docs quote: a small run here keeps the script working as the controller changes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

test('the scale model runs the controller at a given size and prints its figures', () => {
  const script = path.join(__dirname, '..', '..', 'bench', 'scale-model.js');
  const out = execFileSync(process.execPath, [script, '--sets', '4', '--queues', '2000', '--msgs-per-second', '100000', '--set-msgs-per-second', '40000'], { encoding: 'utf8' });
  assert.match(out, /^sets, nodes \(3 per set\)\s+4, 12$/m);
  assert.match(out, /^sets needed for the cluster rate at the measured per-set rate\s+3$/m);
  assert.match(out, /^controller snapshot\s+\d+\.\d MiB$/m);
  assert.match(out, /^route cache per node \(every queue\)\s+\d+\.\d MiB \(\d+ bytes a route\)$/m);
  assert.match(out, /^adding a set: moved to it\s+400 queues/m);
  assert.match(out, /^peer links per node: typical \(each other set's leader\) \/ at most \(all its members\)\s+8 \/ 14$/m);
});
