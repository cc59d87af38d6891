// Human output: aligned `key: value` blocks and simple column tables. Machine output is JSON.

/** `key: value` lines with the values aligned. */
export function formatKeyValues(pairs: ReadonlyArray<readonly [string, string]>): string[] {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`.trimEnd());
}

/** A table with a header row; columns padded to their widest cell, two spaces apart. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Unix seconds with the UTC time beside them; 0 stays "0" (CMQ's "never"). */
export function formatUnixSeconds(sec: number): string {
  if (sec <= 0 || !Number.isFinite(sec)) return String(sec);
  return `${sec} (${new Date(sec * 1000).toISOString().replace('.000Z', 'Z')})`;
}

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
