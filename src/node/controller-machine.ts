// The controller state machine (controller/) as its Raft group's replica runs it: command entries
// decoded and applied with the entry's time, the index and time of the last one kept beside the
// pure machine (which knows neither), and both saved with its snapshot. The controller keeps no
// message bodies, so its snapshot needs no log entry kept: every segment it covers can go.
//
// Snapshot layout (little-endian): "OCCR" u8 version, f64 lastAppliedIndex, f64 lastTimeMs, then
// the controller snapshot (controller/snapshot.ts) to the end.

import { decodeControllerCommand, encodeControllerCommand } from '../controller/codec';
import type { ControllerCommand, ControllerQuery, ControllerResult } from '../controller/commands';
import { ControllerStateMachine } from '../controller/state-machine';
import { ByteReader, ByteWriter, FormatError } from '../protocol/binary';
import type { EncodedCommand } from '../broker/codec';
import type { MachineKind, ReplicaMachine, SnapshotPieces } from './replica-machine';

const MAGIC = [0x4f, 0x43, 0x43, 0x52]; // "OCCR"
const VERSION = 1;
const HEADER_BYTES = MAGIC.length + 1 + 8 + 8;

/** A controller command as its log entry carries it: all meta, no body part. */
export function controllerEntry(command: ControllerCommand): EncodedCommand {
  const payload = encodeControllerCommand(command);
  return { payload, metaLen: payload.length };
}

export class ControllerMachine implements ReplicaMachine<ControllerResult> {
  private appliedIndex: number;
  private timeMs: number;

  private constructor(
    private readonly sm: ControllerStateMachine,
    appliedIndex: number,
    timeMs: number,
  ) {
    this.appliedIndex = appliedIndex;
    this.timeMs = timeMs;
  }

  static readonly kind: MachineKind<ControllerMachine> = {
    create: () => new ControllerMachine(new ControllerStateMachine(), 0, 0),
    restore: (bytes) => ControllerMachine.restore(bytes),
  };

  get lastAppliedIndex(): number {
    return this.appliedIndex;
  }

  get lastTimeMs(): number {
    return this.timeMs;
  }

  apply(index: number, timeMs: number, payload: Uint8Array): ControllerResult {
    const command = decodeControllerCommand(payload);
    // Only this node's encoder writes these entries: bytes it cannot read are a release that does
    // not know a newer command, or damage. Either way no replica may go on past it silently.
    if (command === undefined) throw new Error(`controller entry ${index} does not decode`);
    // Entry times are whole milliseconds from a real clock; the pure machine insists on it, and a
    // virtual clock's fraction must not stop every replica alike.
    const atMs = Math.floor(timeMs);
    const result = this.sm.apply(command, atMs);
    this.appliedIndex = index;
    this.timeMs = Math.max(this.timeMs, atMs);
    return result;
  }

  /** A read of the state as applied here (the caller makes it linearizable). */
  read(query: ControllerQuery): ControllerResult {
    return this.sm.read(query);
  }

  beginSnapshot(): SnapshotPieces {
    const state = this.sm.snapshot();
    const w = new ByteWriter(HEADER_BYTES + state.length);
    for (const b of MAGIC) w.u8(b);
    w.u8(VERSION);
    w.f64(this.appliedIndex);
    w.f64(this.timeMs);
    w.bytes(state);
    let piece: Uint8Array | undefined = w.finish();
    return {
      next: () => {
        const p = piece;
        piece = undefined;
        return p;
      },
      done: () => piece === undefined,
      release: () => undefined,
    };
  }

  private static restore(bytes: Uint8Array): ControllerMachine {
    let header: { index: number; timeMs: number };
    try {
      const r = new ByteReader(bytes, 0, HEADER_BYTES);
      for (const b of MAGIC) if (r.u8() !== b) throw new FormatError('not a controller replica snapshot');
      const version = r.u8();
      if (version !== VERSION) throw new FormatError(`controller replica snapshot version ${version} is not known`);
      header = { index: r.int(), timeMs: r.int() };
    } catch (e) {
      throw new Error(`snapshot: ${e instanceof Error ? e.message : String(e)}`);
    }
    const sm = ControllerStateMachine.restore(bytes.subarray(HEADER_BYTES));
    if (!sm) throw new Error('snapshot: the controller state in it does not decode or breaks an invariant');
    return new ControllerMachine(sm, header.index, header.timeMs);
  }
}
