// The seam between the node driver and replication. A CommitLog orders proposals into log
// entries, makes them durable (on this node's disk now; on a majority once Raft drives it) and
// hands committed entries to the apply loop in index order. The driver never writes the WAL itself.

import type { LogEntry } from '../storage/types';

export interface CommitLog<R> {
  /**
   * Propose one command. Resolves, once the entry is committed and applied, with what the commit
   * listener returned for it (the command's result).
   */
  propose(payload: Uint8Array, metaLen: number): Promise<R>;
  /**
   * Called with each batch of newly committed entries, in index order, exactly once per entry;
   * returns one result per entry.
   */
  onCommit(listener: (entries: LogEntry[]) => R[]): void;
  lastIndex(): number;
  close(): Promise<void>;
}
