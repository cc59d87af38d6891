// The replicated state machine the tests and the simulator drive: it folds every applied entry
// into a hash chain (so two replicas agree on a prefix iff their hashes at its end agree) and keeps
// the applied commands as text, so tests can read what happened.

import assert from 'node:assert/strict';
import type { RaftEntry } from '../../src/raft/types';

export interface SmSnapshot {
  index: number;
  hash: number;
  commands: readonly string[];
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

export function commandPayload(text: string): Uint8Array {
  return textEncoder.encode(text);
}

export function commandText(e: RaftEntry): string {
  return textDecoder.decode(e.payload);
}

/** FNV-1a over an entry's identity and bytes, chained onto `prev`. */
export function chainHash(prev: number, e: RaftEntry): number {
  let h = (prev ^ 0x811c9dc5) >>> 0;
  const mix = (b: number): void => {
    h = Math.imul(h ^ (b & 0xff), 0x01000193) >>> 0;
  };
  for (const n of [e.index, e.term, e.kind.length]) for (let s = 0; s < 32; s += 8) mix(n >>> s);
  for (const b of e.payload) mix(b);
  return h;
}

export class TestStateMachine {
  index = 0;
  hash = 0;
  commands: string[] = [];

  apply(e: RaftEntry): void {
    assert.equal(e.index, this.index + 1, `apply out of order: ${e.index} after ${this.index}`);
    this.index = e.index;
    this.hash = chainHash(this.hash, e);
    if (e.kind === 'command') this.commands.push(commandText(e));
  }

  snapshot(): SmSnapshot {
    return { index: this.index, hash: this.hash, commands: [...this.commands] };
  }

  restore(s: SmSnapshot): void {
    this.index = s.index;
    this.hash = s.hash;
    this.commands = [...s.commands];
  }
}
