// A controller state machine with sets registered, for the controller's tests.

import assert from 'node:assert/strict';
import type { ControllerCommand, ControllerResult } from '../../src/controller/commands';
import { checkState } from '../../src/controller/invariant';
import type { EntityRecord, SetMember } from '../../src/controller/model';
import { ControllerStateMachine } from '../../src/controller/state-machine';

export function members(setId: number): SetMember[] {
  return [1, 2, 3].map((n) => ({ nodeId: `n${setId}-${n}`, peerAddress: `10.0.${setId}.${n}:7000`, apiAddress: `10.0.${setId}.${n}:12345` }));
}

/** Applies and checks every invariant afterwards. */
export function apply(m: ControllerStateMachine, cmd: ControllerCommand, timeMs = 1000): ControllerResult {
  const res = m.apply(cmd, timeMs);
  checkState(m.view());
  return res;
}

/** A machine with sets 1..count (Raft groups 0..count-1), all active, no load reported. */
export function withSets(count: number): ControllerStateMachine {
  const m = new ControllerStateMachine();
  for (let id = 1; id <= count; id++) assert.deepEqual(apply(m, { kind: 'registerSet', setId: id, group: id - 1, members: members(id) }), { ok: true, kind: 'done', routeEpoch: 0 });
  return m;
}

export function entityOf(res: ControllerResult): EntityRecord {
  assert.ok(res.ok && res.kind === 'entity', JSON.stringify(res));
  return res.entity;
}

export function errorOf(res: ControllerResult): string {
  assert.ok(!res.ok, JSON.stringify(res));
  return res.error;
}
