// kill -9 of all three members of a set at once under load, then a restart on their data
// directories: everything acknowledged before is still there, nothing deleted comes back, and the
// clients' history checks clean against a final drain.

import { test } from 'node:test';

import { restartWholeSetUnderLoad } from '../helpers/whole-set-restart';

test('kill -9 of all three members under load, then restart: nothing acknowledged is lost', { timeout: 90_000 }, async () => {
  await restartWholeSetUnderLoad('kill -9', 'restart-kill');
});
