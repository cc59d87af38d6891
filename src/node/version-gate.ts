// During a rolling upgrade, what this node may ask of a set where some members still run the
// previous release (wire version below WIRE_VERSION.sqsCommands): only commands their state
// machines decode (broker/compat.ts). Used where commands are proposed (QueueNode) and where a
// follower sends them to its leader (RoutedQueueService).

import type { Command } from '../broker/commands';
import { forOlderReplicas, olderReplicasCanApply } from '../broker/compat';
import { fail, type ErrorResult } from '../protocol/errors';
import { WIRE_VERSION, type PeerNetwork } from '../transport';

/**
 * The voters other than `selfId` that announced an earlier wire version. One not connected now is
 * taken to run this release: a rolling upgrade restarts one member at a time, on the new release.
 */
export function votersOnOlderRelease(network: PeerNetwork | undefined, voters: readonly string[], selfId: string): string[] {
  if (network === undefined) return [];
  return voters.filter((v) => v !== selfId && (network.peerWireVersion(v) ?? WIRE_VERSION.sqsCommands) < WIRE_VERSION.sqsCommands);
}

/** `command` as every voter applies it: as it is, in the older form, or refused as not applied (retry after the upgrade). */
export function commandForVoters(command: Command, older: readonly string[]): Command | ErrorResult {
  if (older.length === 0 || olderReplicasCanApply(command)) return command;
  return (
    forOlderReplicas(command) ??
    fail('notApplied', undefined, `(${older.join(', ')} still run${older.length === 1 ? 's' : ''} the previous release, which cannot apply this request: retry once every member is upgraded)`)
  );
}
