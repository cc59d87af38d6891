// Deliberately broken variants of the shipped code for the node-level simulator: each is a patch
// of one method of the real class, installed for one run and removed after it, so the checkers
// are shown to catch a real defect in the real driver, not in a model of it.

import { DedupTable } from '../../src/broker/dedup';
import { FifoGroups, type FifoGroup } from '../../src/broker/fifo-groups';
import { QueueState, type MovedMessage } from '../../src/broker/queue';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { BodyReader } from '../../src/node/body-reader';
import { PeerRequests } from '../../src/node/peer-requests';
import { RaftDriver } from '../../src/node/raft-driver';

export type PatchBug =
  | 'skipBodyCheck' // bodies are delivered without checking their CRC32C
  | 'applyOwnClock' // each replica applies entries at its own time instead of the entry's
  | 'holdOnStepDown' // a leader that steps down keeps its clients waiting on what it proposed
  | 'waitForDeadLeader' // a member keeps sending to a leader it no longer hears (no failure detection)
  | 'noDedup' // the state machine forgets every deduplication id (a retried send is stored again)
  | 'fifoNoGroupLock' // a FIFO receive also takes from groups with a message in flight
  | 'fifoReorder' // a FIFO receive hands out a group's second message before its first
  | 'moveCopiesTwice' // a redrive appends each message it moves to its destination twice
  | 'moveLoses'; // a redrive takes messages out of the dead-letter queue and puts them nowhere

type Patchable = Record<string, unknown>;

/** Installs `bug` and returns the function that removes it. */
export function installPatch(bug: PatchBug): () => void {
  switch (bug) {
    case 'skipBodyCheck': {
      const proto = BodyReader.prototype as unknown as Patchable;
      const original = proto['checkedBody'];
      proto['checkedBody'] = function (
        ref: { offset: number; length: number },
        _label: unknown,
        _i: number,
        span: { start: number; bytes: Buffer } | Error | undefined,
      ): Buffer | undefined {
        if (span === undefined || span instanceof Error) return undefined;
        const from = ref.offset - span.start;
        return span.bytes.subarray(from, from + ref.length);
      };
      return () => {
        proto['checkedBody'] = original;
      };
    }
    case 'holdOnStepDown': {
      const proto = RaftDriver.prototype as unknown as Patchable;
      const original = proto['settlePendingOnStepDown'];
      proto['settlePendingOnStepDown'] = function (): void {};
      return () => {
        proto['settlePendingOnStepDown'] = original;
      };
    }
    case 'waitForDeadLeader': {
      const proto = PeerRequests.prototype as unknown as Patchable;
      const [check, unreachable] = [proto['check'], proto['unreachable']];
      proto['check'] = function (): void {};
      proto['unreachable'] = function (): undefined {
        return undefined;
      };
      return () => {
        proto['check'] = check;
        proto['unreachable'] = unreachable;
      };
    }
    case 'noDedup': {
      const proto = DedupTable.prototype as unknown as Patchable;
      const original = proto['find'];
      proto['find'] = function (): undefined {
        return undefined;
      };
      return () => {
        proto['find'] = original;
      };
    }
    case 'fifoNoGroupLock': {
      const proto = FifoGroups.prototype as unknown as Patchable;
      const original = proto['popReady'] as (this: FifoGroups) => FifoGroup | undefined;
      // When no unlocked group is ready, any group with a visible message, locked or not.
      proto['popReady'] = function (this: FifoGroups): FifoGroup | undefined {
        const ready = original.call(this);
        if (ready !== undefined) return ready;
        const byId = (this as unknown as { byId: Map<string, FifoGroup> }).byId;
        for (const g of byId.values()) if (g.visibleCount > 0) return g;
        return undefined;
      };
      return () => {
        proto['popReady'] = original;
      };
    }
    case 'fifoReorder': {
      const proto = FifoGroups.prototype as unknown as Patchable;
      const original = proto['popHead'] as (this: FifoGroups, g: FifoGroup) => number;
      // The group's second visible message before its first (the first goes back to its heap).
      proto['popHead'] = function (this: FifoGroups, g: FifoGroup): number {
        const first = original.call(this, g);
        if (first < 0) return first;
        const second = original.call(this, g);
        if (second < 0) return first;
        g.visible.push(first);
        (this as unknown as { heapEntries: number }).heapEntries++;
        return second;
      };
      return () => {
        proto['popHead'] = original;
      };
    }
    case 'moveCopiesTwice':
    case 'moveLoses': {
      const proto = QueueState.prototype;
      // Called with the instance as `this` below (original.call).
      // eslint-disable-next-line @typescript-eslint/unbound-method
      const original = proto.moveVisible;
      const twice = bug === 'moveCopiesTwice';
      proto.moveVisible = function (this: QueueState, max: number, pick: (seq: number) => ((m: MovedMessage) => void) | undefined) {
        return original.call(this, max, (seq) => {
          const place = pick(seq);
          if (place === undefined) return undefined;
          return (m: MovedMessage) => {
            if (!twice) return;
            place(m);
            place(m);
          };
        });
      };
      return () => {
        proto.moveVisible = original;
      };
    }
    case 'applyOwnClock': {
      const proto = QueueStateMachine.prototype;
      // Called with the instance as `this` below (original.call).
      // eslint-disable-next-line @typescript-eslint/unbound-method
      const original = proto.apply;
      const offsets = new WeakMap<QueueStateMachine, number>();
      let next = 0;
      proto.apply = function (this: QueueStateMachine, index: number, timeMs: number, payload: Uint8Array, metaLen: number) {
        let offset = offsets.get(this);
        if (offset === undefined) {
          offset = (next++ % 3) * 1500;
          offsets.set(this, offset);
        }
        return original.call(this, index, timeMs + offset, payload, metaLen);
      };
      return () => {
        proto.apply = original;
      };
    }
  }
}
