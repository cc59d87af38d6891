// SIGTERM of all three members of a set at once under load (a shutdown of the whole set), then a
// restart on their data directories: every member exits cleanly, everything acknowledged before is
// still there, nothing deleted comes back, and the clients' history checks clean.

import { test } from 'node:test';

import { restartWholeSetUnderLoad } from '../helpers/whole-set-restart';

test('SIGTERM of all three members under load, then restart: nothing acknowledged is lost', { timeout: 90_000 }, async () => {
  await restartWholeSetUnderLoad('SIGTERM', 'restart-term');
});
