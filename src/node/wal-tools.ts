// The entry point `opencmq wal …` loads lazily (so other commands never load storage code): each
// tool's report as output lines (human or one JSON document) and its exit code.

import { refuseIfInUse } from '../storage/data-dir';
import { formatSalvageReport, salvageDataDir, SALVAGE_EXIT } from './wal-salvage';
import { formatVerifyReport, verifyDataDir, VERIFY_EXIT, type VerifyOptions } from './wal-verify';

export interface WalToolResult {
  exitCode: number;
  lines: string[];
  /** The lines are an error message (for stderr), not a report. */
  isError?: boolean;
}

function errorResult(err: unknown, json: boolean, code: number): WalToolResult {
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: code, lines: json ? [JSON.stringify({ error: message }, null, 2)] : [`error: ${message}`], isError: true };
}

export async function runWalVerify(dataDir: string, json: boolean, opts: VerifyOptions = {}): Promise<WalToolResult> {
  try {
    // A live server changes the log while we read it: the report would be of no state at all.
    await refuseIfInUse(dataDir);
    const { report } = await verifyDataDir(dataDir, opts);
    return { exitCode: report.exitCode, lines: json ? [JSON.stringify(report, null, 2)] : formatVerifyReport(report) };
  } catch (err) {
    return errorResult(err, json, VERIFY_EXIT.error);
  }
}

export async function runWalSalvage(dataDir: string, outDir: string, opts: { json: boolean; segmentBytes?: number }): Promise<WalToolResult> {
  try {
    await refuseIfInUse(dataDir);
    const report = await salvageDataDir(dataDir, outDir, opts.segmentBytes !== undefined ? { segmentBytes: opts.segmentBytes } : {});
    return { exitCode: report.exitCode, lines: opts.json ? [JSON.stringify(report, null, 2)] : formatSalvageReport(report) };
  } catch (err) {
    return errorResult(err, opts.json, SALVAGE_EXIT.error);
  }
}
