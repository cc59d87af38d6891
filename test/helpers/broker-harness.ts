// A queue state machine driven as the node drives it: commands encoded into log entries with
// consecutive indexes and a settable time, each payload kept so bodies can be read back as the node
// reads them (an entry's payload at the body's offset), checked against their CRC32C.

import assert from 'node:assert/strict';

import { encodeCommand } from '../../src/broker/codec';
import type { BodyRef, Command, CommandResult } from '../../src/broker/commands';
import { QueueStateMachine } from '../../src/broker/state-machine';
import { crc32c } from '../../src/storage/crc32c';

export const HARNESS_T0 = 1_700_000_000_000;

export class BrokerHarness {
  sm = new QueueStateMachine();
  index = 0;
  timeMs = HARNESS_T0;
  /** Payloads by entry index, to read bodies back as the node would. */
  readonly payloads = new Map<number, Uint8Array>();

  run(cmd: Command): CommandResult {
    const { payload, metaLen } = encodeCommand(cmd);
    this.payloads.set(this.index + 1, payload);
    return this.sm.apply(++this.index, this.timeMs, payload, metaLen);
  }

  ok<K extends Command['kind']>(cmd: Command & { kind: K }): Extract<CommandResult, { ok: true; kind: K }> {
    const r = this.run(cmd);
    assert.ok(r.ok, `${cmd.kind} failed: ${r.ok ? '' : r.error}`);
    assert.equal(r.kind, cmd.kind);
    return r as Extract<CommandResult, { ok: true; kind: K }>;
  }

  advance(ms: number): void {
    this.timeMs += ms;
  }

  /** The body `ref` points at, checked against its CRC32C. */
  body(ref: BodyRef): Buffer {
    const p = this.payloads.get(ref.entryIndex);
    assert.ok(p, `entry ${ref.entryIndex} was never written`);
    const b = Buffer.from(p.subarray(ref.offset, ref.offset + ref.length));
    assert.equal(crc32c(b), ref.crc32c, 'the body read back matches its CRC32C');
    return b;
  }
}
