// Deliberately broken variants of the shipped code for the node-level simulator: each is a patch
// of one method of the real class, installed for one run and removed after it, so the checkers
// are shown to catch a real defect in the real driver, not in a model of it.

import { DedupTable } from '../../src/broker/dedup';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { BodyReader } from '../../src/node/body-reader';
import { PeerRequests } from '../../src/node/peer-requests';
import { RaftDriver } from '../../src/node/raft-driver';

export type PatchBug =
  | 'skipBodyCheck' // bodies are delivered without checking their CRC32C
  | 'applyOwnClock' // each replica applies entries at its own time instead of the entry's
  | 'holdOnStepDown' // a leader that steps down keeps its clients waiting on what it proposed
  | 'waitForDeadLeader' // a member keeps sending to a leader it no longer hears (no failure detection)
  | 'noDedup'; // the state machine forgets every deduplication id (a retried send is stored again)

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
