// The structured logs: pino's JSON records (time, level, node id, component, message, fields), the
// level filter, the readable format, the line-function compatibility path, and the rate limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createLogger } from '../../src/node/logger';
import { lineLogger, LogRateLimit, loggerFor, parseLogLevel } from '../../src/protocol/log';
import { serverOptionsFrom } from '../../src/cli/commands';
import { logOptions } from '../../src/cli/options';
import { UsageError } from '../../src/cli/cli-io';

function capture(): { lines: string[]; destination: { write(line: string): void } } {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

test('json records carry time, level, node id, component, message and fields', () => {
  const { lines, destination } = capture();
  const log = createLogger({ format: 'json', nodeId: 'n2', destination });
  log.child('raft').info('n2 sees leader n1 in term 3', { leader: 'n1', term: 3 });
  log.child('wal').error('CHECKSUM FAILURE');
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first['level'], 'info');
  assert.match(String(first['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(first['nodeId'], 'n2');
  assert.equal(first['component'], 'raft');
  assert.equal(first['msg'], 'n2 sees leader n1 in term 3');
  assert.equal(first['leader'], 'n1');
  assert.equal(first['term'], 3);
  const second = JSON.parse(lines[1]!) as Record<string, unknown>;
  assert.equal(second['level'], 'error');
  assert.equal(second['component'], 'wal');
  // A child of a child replaces the component rather than repeating the key.
  log.child('raft').child('api').warn('x');
  assert.equal((lines[2]!.match(/"component"/g) ?? []).length, 1, lines[2]);
  assert.equal((JSON.parse(lines[2]!) as Record<string, unknown>)['component'], 'api');
});

test('the level filter drops lines below it', () => {
  const levels = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | undefined): string[] => {
    const { lines, destination } = capture();
    const log = createLogger({ format: 'json', nodeId: 'n1', destination, ...(level ? { level } : {}) }).child('server');
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    return lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  };
  assert.deepEqual(levels(undefined), ['i', 'w', 'e'], 'info by default');
  assert.deepEqual(levels('warn'), ['w', 'e']);
  assert.deepEqual(levels('error'), ['e']);
  assert.deepEqual(levels('debug'), ['d', 'i', 'w', 'e']);
  assert.deepEqual(levels('trace'), ['t', 'd', 'i', 'w', 'e']);
});

test('pretty lines are readable: time, level, node, component, message, fields', () => {
  const { lines, destination } = capture();
  const log = createLogger({ format: 'pretty', nodeId: 'n3', destination, isTty: false });
  log.child('push').warn('push endpoint http://x failing', { endpoint: 'http://x', attempts: 2 });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN {2}n3 push: push endpoint http:\/\/x failing endpoint=http:\/\/x attempts=2\n$/);
  assert.ok(!lines[0]!.includes('{'), 'not JSON');
});

test('auto is pretty (coloured) on a terminal and JSON elsewhere; a flag overrides it', () => {
  const tty = capture();
  createLogger({ nodeId: 'n1', destination: tty.destination, isTty: true }).child('server').info('hello');
  assert.ok(tty.lines[0]!.includes('\u001b[32mINFO \u001b[0m n1 server: hello'), JSON.stringify(tty.lines[0]));
  const pipe = capture();
  createLogger({ format: 'auto', nodeId: 'n1', destination: pipe.destination, isTty: false }).child('server').info('hello');
  assert.equal((JSON.parse(pipe.lines[0]!) as { msg: string }).msg, 'hello');
  const forcedJson = capture();
  createLogger({ format: 'json', nodeId: 'n1', destination: forcedJson.destination, isTty: true }).child('server').info('hello');
  assert.equal((JSON.parse(forcedJson.lines[0]!) as { msg: string }).msg, 'hello');
});

test('a line function still works: component prefix, message, fields', () => {
  const lines: string[] = [];
  const log = lineLogger((l) => lines.push(l));
  log.child('wal').warn('torn tail dropped', { bytes: 12, segment: 'a b' });
  log.info('no component');
  loggerFor((l) => lines.push(l), 'transport', () => undefined).error('listener error');
  assert.deepEqual(lines, ['wal: torn tail dropped bytes=12 segment="a b"', 'no component', 'transport: listener error']);
});

test('the rate limit admits N lines per window and reports how many it dropped', () => {
  let now = 0;
  const limit = new LogRateLimit(3, 60_000, () => now);
  const admitted = Array.from({ length: 10 }, () => limit.admit('authFailed'));
  assert.equal(admitted.filter((a) => a !== undefined).length, 3);
  assert.ok(limit.admit('secretIdNotExist'), 'each reason has its own budget');
  now += 59_999;
  assert.equal(limit.admit('authFailed'), undefined, 'still the same minute');
  now += 1;
  assert.deepEqual(limit.admit('authFailed'), { suppressed: 8 });
  assert.deepEqual(limit.admit('authFailed'), { suppressed: 0 });
});

test('--log-format and --log-level are checked', () => {
  assert.deepEqual(logOptions({}), {});
  assert.deepEqual(logOptions({ 'log-format': 'json', 'log-level': 'debug' }), { logFormat: 'json', logLevel: 'debug' });
  assert.throws(() => logOptions({ 'log-format': 'xml' }), UsageError);
  assert.throws(() => logOptions({ 'log-level': 'verbose' }), UsageError);
  // The server builds its pino logger from these (no line function in between).
  const opts = serverOptionsFrom({ 'log-format': 'pretty', 'log-level': 'warn' }, { env: {}, err: () => undefined });
  assert.equal(opts.logFormat, 'pretty');
  assert.equal(opts.logLevel, 'warn');
  assert.equal(opts.log, undefined);
  assert.throws(() => serverOptionsFrom({ 'log-level': 'loud' }, { env: {}, err: () => undefined }), UsageError);
  assert.equal(parseLogLevel('warn'), 'warn');
  assert.equal(parseLogLevel('fatal'), undefined);
});
