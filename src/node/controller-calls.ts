// A member of the controller group sends its leader the commands and reads it is given, over the
// group's peer RPC, and runs those its peers send it. A call runs where it arrives and is never
// passed on, so it cannot bounce between members: a member that no longer leads refuses it
// ("not applied"), and the caller retries once it knows the new leader.
//
// Request: [service byte][u8 op: 1 submit, 2 read][the command or query, controller/codec.ts].
// Answer: the result, encoded by controller/codec.ts.

import { decodeControllerCommand, decodeControllerQuery, decodeControllerResult, encodeControllerQuery, encodeControllerResult } from '../controller/codec';
import type { ControllerCommand, ControllerQuery, ControllerResult } from '../controller/commands';
import { fail } from '../protocol/errors';
import type { Logger } from '../protocol/log';
import { controllerEntry } from './controller-machine';
import type { PeerRequests } from './peer-requests';
import { RPC_SERVICE, type RpcRouter } from './rpc';

export type ControllerCall = { op: 'submit'; command: ControllerCommand } | { op: 'read'; query: ControllerQuery };

const OP = { submit: 1, read: 2 } as const;

export function encodeControllerCall(call: ControllerCall): Buffer {
  const body = call.op === 'submit' ? controllerEntry(call.command).payload : encodeControllerQuery(call.query);
  const out = Buffer.allocUnsafe(2 + body.length);
  out[0] = RPC_SERVICE.controller;
  out[1] = OP[call.op];
  out.set(body, 2);
  return out;
}

/** A call as the router hands it over (without the service byte); undefined when it does not decode. */
export function decodeControllerCall(buf: Uint8Array): ControllerCall | undefined {
  const body = buf.subarray(1);
  if (buf[0] === OP.submit) {
    const command = decodeControllerCommand(body);
    return command && { op: 'submit', command };
  }
  if (buf[0] === OP.read) {
    const query = decodeControllerQuery(body);
    return query && { op: 'read', query };
  }
  return undefined;
}

/** Runs the calls other members send on `here` (this member's own answer, never passed on). */
export function serveControllerCalls(rpc: RpcRouter, here: (call: ControllerCall) => Promise<ControllerResult>, selfId: string, log: Logger): void {
  rpc.serve(RPC_SERVICE.controller, async (from, payload) => {
    const call = decodeControllerCall(payload);
    if (!call) {
      // Nothing ran. A bug or a version this node does not know; never a client's doing.
      log.error(`a controller call from ${from} could not be decoded`, { peer: from });
      return encodeControllerResult(fail('internalError', undefined, `${selfId} could not decode the controller call`));
    }
    return encodeControllerResult(await here(call));
  });
}

/**
 * Sends `call` to `leader` and gives its answer. A failure on the way is "not applied" when the
 * leader provably did not run it, and for a read (which changes nothing) always; else "outcome
 * unknown": the command may have been committed.
 */
export async function callLeader(requests: PeerRequests, leader: string, call: ControllerCall): Promise<ControllerResult> {
  const read = call.op === 'read';
  const failed = (outcome: 'notApplied' | 'outcomeUnknown', why: string): ControllerResult =>
    fail(read ? 'notApplied' : outcome, undefined, `forwarding to controller leader ${leader} failed: ${why}`);
  const gone = requests.unreachable(leader, true);
  if (gone !== undefined) return failed('notApplied', `${gone}; the call was not sent, retry`);
  const a = await requests.send(leader, encodeControllerCall(call), true);
  if (!a.ok) return failed(a.outcome, a.why);
  return decodeControllerResult(a.answer) ?? failed('outcomeUnknown', 'its answer could not be decoded');
}
