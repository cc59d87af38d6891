// What every `... list` command shares: --search/--offset/--limit and the paged table output.

import type { CommandContext } from './commands';
import { formatJson, formatTable } from './format';
import { intOpt, stringOpt, type OptionSpecs } from './options';

export const LIST_OPTIONS: OptionSpecs = { search: { type: 'string' }, offset: { type: 'string' }, limit: { type: 'string' } };

export function listHelp(what: string, limitDefault: number, limitMax: number): string[] {
  return [
    'Options:',
    `  --search WORD   only ${what} whose name contains WORD (case-insensitive)`,
    '  --offset N      skip N matches (default 0)',
    `  --limit N       show at most N (default ${limitDefault}, max ${limitMax})`,
  ];
}

export function listOptions(ctx: Pick<CommandContext, 'opts'>, limitMax: number): { searchWord?: string; offset?: number; limit?: number } {
  const opts: { searchWord?: string; offset?: number; limit?: number } = {};
  const search = stringOpt(ctx.opts, 'search');
  const offset = intOpt(ctx.opts, 'offset', 0, Number.MAX_SAFE_INTEGER);
  const limit = intOpt(ctx.opts, 'limit', 1, limitMax);
  if (search !== undefined) opts.searchWord = search;
  if (offset !== undefined) opts.offset = offset;
  if (limit !== undefined) opts.limit = limit;
  return opts;
}

/** The listing as JSON (the whole answer), or as a table plus "showing a-b of n". */
export function printListing(
  ctx: Pick<CommandContext, 'opts' | 'io' | 'json'>,
  what: string,
  answer: { totalCount: number },
  headers: string[],
  rows: string[][],
): void {
  if (ctx.json) {
    ctx.io.out(formatJson(answer));
    return;
  }
  if (rows.length > 0) for (const line of formatTable(headers, rows)) ctx.io.out(line);
  const first = intOpt(ctx.opts, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  ctx.io.out(rows.length === 0 ? `no ${what} (${answer.totalCount} matching)` : `showing ${first + 1}-${first + rows.length} of ${answer.totalCount}`);
}
