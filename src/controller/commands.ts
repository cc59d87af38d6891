// The commands of the controller state machine (what its Raft log stores, encoded by ./codec.ts),
// the reads it answers, and their results. Every refusal is an ErrorResult naming an error of the
// one registry (protocol/errors.ts); nothing throws for a bad request.

import type { ErrorResult } from '../protocol/errors';
import type { EntityRecord, EntityType, SetMember, SetRecord, SetState } from './model';

export type ControllerCommand =
  /** A new set, active at once. `group`: its Raft group number on the peer wire. */
  | { kind: 'registerSet'; setId: number; group: number; members: SetMember[] }
  /** The set's members after a membership change of its Raft group. */
  | { kind: 'setMembers'; setId: number; members: SetMember[] }
  /** draining: nothing new is placed on the set (moves away from it still work). */
  | { kind: 'setSetState'; setId: number; state: SetState }
  /** The set's load as its leader measured it; stamped with this entry's time. */
  | { kind: 'reportLoad'; setId: number; queues: number; messages: number; bytes: number; requestsPerSecond: number }
  /**
   * Places a queue (on `shards` sets, default 1) or a topic (always 1) on the least loaded sets,
   * or, given `setId`, on that set (a queue beside its dead-letter queue, an operator's choice):
   * refused when the set does not exist or is draining, and for more than one shard (placement
   * spreads shards; a chosen set holds one).
   */
  | { kind: 'createEntity'; type: EntityType; name: string; shards?: number; setId?: number }
  /** Refused while a route change is under way (abort it first). */
  | { kind: 'deleteEntity'; type: EntityType; name: string }
  /** Starts moving shard `shard` (default 0) of the entity to set `to` (phase copying). */
  | { kind: 'beginMove'; type: EntityType; name: string; to: number; shard?: number }
  /** copying -> cutover. */
  | { kind: 'advanceMove'; type: EntityType; name: string }
  /** cutover -> done: the route now names the target set. */
  | { kind: 'completeMove'; type: EntityType; name: string }
  /** Ends a move (either phase, route unchanged) or a growth (pending shards dropped). */
  | { kind: 'abortMove'; type: EntityType; name: string }
  /** Grows a queue to `shards` shards: the new ones are placed and recorded as pending. */
  | { kind: 'growShards'; name: string; shards: number }
  /** A pending shard now exists on its set; the last confirmation grows the route. */
  | { kind: 'confirmShard'; name: string; shard: number }
  /**
   * Set `setId` holds these queues and topics (its leader reports what its state machine has):
   * each one without a route is routed to that set, one shard. One already routed there (or on
   * its way there by a move or growth) is left as it is; one routed elsewhere is a conflict,
   * reported and left as it is. At most CONTROLLER_LIMITS.adoptMax per command; a draining set
   * may adopt (the data is there already).
   */
  | { kind: 'adoptEntities'; setId: number; entities: EntityRef[] };

/** A queue or topic by name. */
export interface EntityRef {
  type: EntityType;
  name: string;
}

/** An entity adoptEntities left alone because its route names another set (the first of its shards). */
export interface AdoptConflict extends EntityRef {
  setId: number;
}

export type ControllerCommandKind = ControllerCommand['kind'];

/** Reads, answered as of the last applied entry (no log entry needed). */
export type ControllerQuery =
  | { kind: 'getRoute'; type: EntityType; name: string }
  /** Routes of one type whose name starts with `prefix`, in name order, from `offset`, at most `limit`. */
  | { kind: 'listRoutes'; type: EntityType; prefix: string; offset: number; limit: number }
  | { kind: 'listSets' }
  /**
   * The queues and topics with a route change under way (a move or a growth), oldest change first
   * (then queues before topics, then by name), from `offset`, at most `limit`; answered as routes
   * (each entity carries its change, totalCount counts them all).
   */
  | { kind: 'listChanges'; offset: number; limit: number };

export type ControllerQueryKind = ControllerQuery['kind'];

/** A set as listSets shows it: the record plus the controller's own count of what it holds. */
export interface SetView extends SetRecord {
  /** Shards placed on the set, plus those moving or being added to it (what placement counts). */
  entities: number;
}

export type ControllerResult =
  | ErrorResult
  /** registerSet, setMembers, setSetState, reportLoad. */
  | { ok: true; kind: 'done'; routeEpoch: number }
  /** Every entity command and getRoute: the entity as it is after the command (deleteEntity: as it was). */
  | { ok: true; kind: 'entity'; entity: EntityRecord; routeEpoch: number }
  /** listRoutes and listChanges: one page, and how many match in all. */
  | { ok: true; kind: 'routes'; totalCount: number; entities: EntityRecord[]; routeEpoch: number }
  | { ok: true; kind: 'sets'; sets: SetView[]; routeEpoch: number }
  /** adoptEntities: how many got a route now, and those routed to another set. */
  | { ok: true; kind: 'adopted'; adopted: number; conflicts: AdoptConflict[]; routeEpoch: number };

export type ControllerResultKind = Exclude<ControllerResult, ErrorResult>['kind'];
