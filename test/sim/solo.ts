// One RaftNode fed messages by hand (etcd-style unit tests of a single rule): its Readies are
// persisted to a MemoryStorage and the messages it sends are collected for the test to inspect.

import { RaftNode } from '../../src/raft/raft-node';
import type { HardState, RaftConfig, RaftEntry, RaftMessage, Ready } from '../../src/raft/types';
import { MemoryStorage } from './memory-storage';
import { commandPayload, TestStateMachine } from './state-machine';

export interface SoloOptions {
  id?: string;
  voters?: string[];
  /** Entries already on disk, and the hard state that goes with them. */
  log?: RaftEntry[];
  hardState?: HardState;
  electionTicks?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  random?: () => number;
  maxInflightAppends?: number;
  maxBytesPerAppend?: number;
  makeNode?: (config: RaftConfig) => RaftNode;
}

export function entry(index: number, term: number, text = `e${index}t${term}`, kind: RaftEntry['kind'] = 'command'): RaftEntry {
  return { index, term, kind, timeMs: 0, metaLen: 0, payload: kind === 'command' ? commandPayload(text) : new Uint8Array(0) };
}

export function emptyReady(): Ready {
  return { entriesToPersist: [], committedEntries: [], messages: [], readStates: [], droppedReads: [], entryFetches: [] };
}

export class Solo {
  readonly storage = new MemoryStorage();
  readonly sm = new TestStateMachine();
  readonly raft: RaftNode;
  readonly readies: Ready[] = [];

  constructor(opts: SoloOptions = {}) {
    const voters = opts.voters ?? ['a', 'b', 'c'];
    this.storage.persist({ ...emptyReady(), entriesToPersist: opts.log ?? [], hardState: opts.hardState ?? { term: 0, votedFor: undefined, commitIndex: 0 } }, undefined);
    const config: RaftConfig = {
      id: opts.id ?? 'a',
      voters,
      electionTicks: opts.electionTicks ?? 10,
      heartbeatTicks: 1,
      random: opts.random ?? (() => 0),
      preVote: opts.preVote ?? false,
      checkQuorum: opts.checkQuorum ?? false,
      maxInflightAppends: opts.maxInflightAppends ?? 64,
      maxBytesPerAppend: opts.maxBytesPerAppend ?? 1024 * 1024,
      log: this.storage,
      restored: this.storage.restored(),
    };
    this.raft = opts.makeNode ? opts.makeNode(config) : new RaftNode(config);
  }

  /** Take one Ready, persist and apply it, advance; returns it. */
  cycle(): Ready {
    const rd = this.raft.ready();
    this.readies.push(rd);
    this.storage.persist(rd, undefined);
    for (const e of rd.committedEntries) this.sm.apply(e);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) this.raft.appliedTo(last.index);
    this.raft.advance(rd);
    return rd;
  }

  /** Run Ready cycles until there is nothing left; returns every message sent. */
  drain(): RaftMessage[] {
    const out: RaftMessage[] = [];
    while (this.raft.hasReady()) out.push(...this.cycle().messages);
    return out;
  }

  step(m: RaftMessage): RaftMessage[] {
    this.raft.step(m);
    return this.drain();
  }

  tick(n = 1): RaftMessage[] {
    const out: RaftMessage[] = [];
    for (let i = 0; i < n; i++) {
      this.raft.tick();
      out.push(...this.drain());
    }
    return out;
  }

  /** Make this node leader of `term` - 1 + 1 by campaigning and feeding it granted votes. */
  becomeLeader(voters: string[]): RaftMessage[] {
    const out: RaftMessage[] = [];
    for (let i = 0; i < 100 && this.raft.status().role !== 'candidate'; i++) out.push(...this.tick());
    const term = this.raft.status().term;
    for (const from of voters) {
      if (from === this.raft.id || this.raft.status().role === 'leader') continue;
      out.push(...this.step({ type: 'RequestVoteResponse', from, to: this.raft.id, term, voteGranted: true }));
    }
    return out;
  }
}
