// The voter configuration over the log. A configuration takes effect as soon as its entry is in
// the log (thesis §4.1), so a truncated config entry must be undone: we keep the base configuration
// (at the snapshot) and every config entry after it.

import { raftAssert } from './assert';
import type { ConfigChange, SnapshotMeta } from './types';

export interface ConfigAt {
  index: number;
  voters: string[];
}

export class Membership {
  private base: ConfigAt;
  /** Config entries after the base, in index order. */
  private history: ConfigAt[] = [];

  constructor(base: ConfigAt) {
    this.base = { index: base.index, voters: sortedUnique(base.voters) };
  }

  get voters(): readonly string[] {
    return (this.history[this.history.length - 1] ?? this.base).voters;
  }

  /** Index of the newest config entry (0 when only the base configuration is known). */
  get latestIndex(): number {
    return this.history[this.history.length - 1]?.index ?? 0;
  }

  isVoter(id: string): boolean {
    return this.voters.includes(id);
  }

  /** A config entry was appended at `index`. */
  append(index: number, voters: string[]): void {
    raftAssert(index > (this.history[this.history.length - 1]?.index ?? this.base.index), 'config entries out of order');
    this.history.push({ index, voters: sortedUnique(voters) });
  }

  /** Entries from `index` on were removed from the log: their configurations are undone. */
  truncateFrom(index: number): void {
    while (this.history.length > 0 && this.history[this.history.length - 1]!.index >= index) this.history.pop();
  }

  /** The voters in effect at `index` (the newest config entry at or below it). */
  votersAt(index: number): string[] {
    let voters = this.base.voters;
    for (const c of this.history) {
      if (c.index > index) break;
      voters = c.voters;
    }
    return [...voters];
  }

  /** Entries up to `index` are compacted into a snapshot: fold older history into the base. */
  compact(index: number): void {
    const voters = this.votersAt(index);
    this.history = this.history.filter((c) => c.index > index);
    this.base = { index, voters };
  }

  /** A snapshot replaced the whole log. */
  restore(meta: SnapshotMeta): void {
    this.history = [];
    this.base = { index: meta.index, voters: sortedUnique(meta.voters) };
  }
}

/** The voters a change produces, or why it cannot be made. */
export function applyChange(voters: readonly string[], change: ConfigChange): string[] | string {
  switch (change.type) {
    case 'addVoter':
      if (voters.includes(change.node)) return `${change.node} is already a voter`;
      return sortedUnique([...voters, change.node]);
    case 'removeVoter':
      if (!voters.includes(change.node)) return `${change.node} is not a voter`;
      if (voters.length === 1) return 'cannot remove the last voter';
      return voters.filter((v) => v !== change.node);
  }
}

export function quorum(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest value that a majority of voters has reached: the k-th largest, k = quorum.
 * `valueOf` gives each voter's value.
 */
export function majorityValue(voters: readonly string[], valueOf: (id: string) => number): number {
  if (voters.length === 0) return 0;
  const values = voters.map(valueOf).sort((a, b) => b - a);
  return values[quorum(voters.length) - 1]!;
}

function sortedUnique(ids: readonly string[]): string[] {
  return [...new Set(ids)].sort();
}
