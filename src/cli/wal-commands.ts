// `opencmq wal verify` and `opencmq wal salvage`: offline tools for a server's data directory,
// run while the server is stopped. The work is in node/wal-tools.ts, loaded only when used.

import { COMPACT_BELOW_PERCENT } from '../node/server-options';
import { UsageError } from './cli-io';
import type { CommandSpec } from './commands';
import { intOpt, stringOpt } from './options';

async function walTools(): Promise<typeof import('../node/wal-tools')> {
  return import('../node/wal-tools');
}

function print(ctx: Parameters<CommandSpec['run']>[0], r: { exitCode: number; lines: string[]; isError?: boolean }): number {
  for (const line of r.lines) {
    if (r.isError === true) ctx.io.err(line);
    else ctx.io.out(line);
  }
  return r.exitCode;
}

const walVerify: CommandSpec = {
  words: ['wal', 'verify'],
  usage: 'opencmq wal verify DATA_DIR [--compact-below PCT] [--json]',
  summary: "check a stopped server's data directory and say what a start would do (changes nothing)",
  help: [
    'DATA_DIR is the server\'s --data-dir. Reads every WAL segment the way a start does and reports',
    'each segment (entries, bytes, status), the snapshot, the Raft hard state, every damaged range',
    '(header/metadata damage: the entry is unreadable; body-only damage: its messages are quarantined),',
    'a torn tail, and the verdict: start, drop-torn-tail, quarantine-damaged-bodies or refuse.',
    'It also restores the state a start would run on (the snapshot, then the committed log after it)',
    'and reports the space: live message bytes (in total and per segment), log and snapshot bytes,',
    'and the bytes compaction and a snapshot would free, as the server\'s compaction metrics count them.',
    'Run it only while the server is stopped.',
    '',
    'Options:',
    '  --compact-below PCT  the server\'s --compact-below, which the reclaimable bytes assume (default 50)',
    '',
    'Exit codes:',
    '  0  a start succeeds and loses nothing acknowledged (a torn tail is an unfinished, unacknowledged write)',
    '  1  the directory could not be read',
    '  2  usage error',
    '  3  a start succeeds, but damaged message bodies are quarantined (or a damaged snapshot / hard state is skipped)',
    '  4  a start refuses (CORRUPTION): use "opencmq wal salvage", or wipe the member and let it rejoin',
  ],
  options: { 'compact-below': { type: 'string' } },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const compactBelow = intOpt(ctx.opts, 'compact-below', COMPACT_BELOW_PERCENT.min, COMPACT_BELOW_PERCENT.max);
    const tools = await walTools();
    return print(ctx, await tools.runWalVerify(ctx.args[0] ?? '', ctx.json, compactBelow !== undefined ? { compactBelowPercent: compactBelow } : {}));
  },
};

const walSalvage: CommandSpec = {
  words: ['wal', 'salvage'],
  usage: 'opencmq wal salvage DATA_DIR --out NEW_DIR [--segment-mb N] [--json]',
  summary: 'copy every readable entry of a damaged data directory into a new one that starts',
  help: [
    'Never modifies DATA_DIR. NEW_DIR must not exist or be empty. Copies the latest intact snapshot, the',
    'Raft hard state and every intact log entry with its index and term; an entry whose header is',
    'unreadable becomes a no-op entry of the same index (its command is lost and reported); unreadable',
    'bytes at the end of the log (an unfinished write) are left out; entries with damaged message bodies',
    'are copied as they are (those messages stay quarantined). Then: opencmq server --data-dir NEW_DIR.',
    'For a member of a replicated set prefer wiping it and letting it rejoin (see the operations guide).',
    '',
    'Options:',
    '  --out NEW_DIR      the new data directory (required)',
    '  --segment-mb N     WAL segment size of the new directory (default 64, as the server\'s default)',
    '',
    'Exit codes: 0 nothing acknowledged lost; 1 refused or failed; 2 usage error; 3 copied with losses (see the report).',
  ],
  options: { out: { type: 'string' }, 'segment-mb': { type: 'string' } },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const out = stringOpt(ctx.opts, 'out');
    if (out === undefined || out === '') throw new UsageError('--out NEW_DIR is required');
    const segmentMb = intOpt(ctx.opts, 'segment-mb', 1, 4096);
    const tools = await walTools();
    const opts = segmentMb !== undefined ? { json: ctx.json, segmentBytes: segmentMb * 1024 * 1024 } : { json: ctx.json };
    const r = await tools.runWalSalvage(ctx.args[0] ?? '', out, opts);
    return print(ctx, r);
  },
};

export const WAL_COMMANDS: readonly CommandSpec[] = [walVerify, walSalvage];
