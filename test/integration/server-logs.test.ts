// A real `opencmq server` process: with --log-format json every line it logs is a JSON object
// with time, level, nodeId, component and msg, the leadership change among them; with
// --log-format pretty the same events are readable lines even though stderr is a pipe.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { makeDataDir, spawnServer } from '../helpers/server-process';

async function runAndStop(args: string[]): Promise<string[]> {
  const { dir, cleanup } = await makeDataDir('opencmq-logs-');
  try {
    const server = await spawnServer(dir, args);
    try {
      // The leadership line comes before "listening"; give the rest of start-up a moment to be written.
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      assert.equal(await server.stop(), 0);
    }
    return server.output().split('\n').filter((l) => l !== '');
  } finally {
    await cleanup();
  }
}

test('--log-format json: parseable lines with time, level, node id, component, message; leadership is among them', { timeout: 60_000 }, async () => {
  const lines = await runAndStop(['--log-format', 'json']);
  // The CLI's own closing line after the server has stopped is not a log record.
  const records = lines.filter((l) => l !== 'opencmq stopped').map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      assert.fail(`not a JSON line: ${l}`);
    }
  });
  assert.ok(records.length >= 3, lines.join('\n'));
  for (const r of records) {
    assert.match(String(r['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, JSON.stringify(r));
    assert.ok(['trace', 'debug', 'info', 'warn', 'error'].includes(String(r['level'])), JSON.stringify(r));
    assert.equal(r['nodeId'], 'n1');
    assert.equal(typeof r['component'], 'string');
    assert.equal(typeof r['msg'], 'string');
  }
  const leadership = records.find((r) => r['component'] === 'raft' && /sees leader n1/.test(String(r['msg'])));
  assert.ok(leadership, lines.join('\n'));
  assert.equal(leadership['level'], 'info');
  assert.equal(leadership['leader'], 'n1');
  assert.equal(typeof leadership['term'], 'number');
  const election = records.find((r) => r['component'] === 'raft' && /stands for election/.test(String(r['msg'])));
  assert.ok(election, `the election that made n1 leader is logged:\n${lines.join('\n')}`);
  assert.equal(election['level'], 'info');
  assert.ok(records.some((r) => r['component'] === 'server' && /listening on http/.test(String(r['msg']))));
  assert.ok(records.some((r) => r['component'] === 'wal'));
});

test('--log-format pretty: readable lines even when stderr is not a terminal', { timeout: 60_000 }, async () => {
  const lines = await runAndStop(['--log-format', 'pretty']);
  const leadership = lines.find((l) => /sees leader n1/.test(l));
  assert.ok(leadership, lines.join('\n'));
  assert.match(leadership, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}n1 raft: n1 sees leader n1 in term \d+ leader=n1 term=\d+$/);
  assert.ok(!lines.some((l) => l.startsWith('{')), lines.join('\n'));
  // Forced pretty on a pipe is not coloured (escape codes would end up in files).
  assert.ok(!lines.some((l) => l.includes('\x1b[')), lines.join('\n'));
});
