// The controller's model of the cluster: sets (Raft groups that serve queues and topics), the
// route of every queue and topic to its set or sets, each set's last load report, and the route
// changes under way (a move of a shard to another set, or a queue growing more shards). Plain data,
// shared by the state machine (./state-machine.ts), its codec (./codec.ts) and snapshot
// (./snapshot.ts). Limits that must agree between those are defined here, once.

import { LIMITS } from '../protocol/limits';

/** Limits of the controller's own data (checked on apply and on decode). */
export const CONTROLLER_LIMITS = {
  /** Shards of one queue (each on its own set): the API's limit of the `shards` parameter. */
  shardsMax: LIMITS.queueShardsMax,
  /** Members of one set (a Raft group of 3 today; room for 5, 7 or 9). */
  membersMax: 9,
  /** A node id or an address, in characters. */
  memberFieldCharsMax: 255,
  /** Set ids and Raft group numbers are u32 (the peer wire's group id is at most a u32). */
  idMax: 0xffff_ffff,
  /** listRoutes and listChanges: at most this many routes per page. */
  listLimitMax: 1000,
  /** adoptEntities: at most this many queues and topics per command (a set's leader sends pages of this many). */
  adoptMax: 1000,
} as const;

/**
 * A queue or topic name as the controller accepts it: the union of the CMQ rule (protocol/names.ts)
 * and the SQS one (up to 80 characters, a `.fifo` suffix); api/ applies each protocol's exact rule
 * before a name gets here. Checked anyway so no command can plant an unroutable name.
 */
export const ENTITY_NAME_RE = /^[A-Za-z0-9._-]{1,80}$/;

export type SetState = 'active' | 'draining';
export const SET_STATES: readonly SetState[] = ['active', 'draining'];

export type EntityType = 'queue' | 'topic';
export const ENTITY_TYPES: readonly EntityType[] = ['queue', 'topic'];

/** One node of a set, with the addresses others reach it on. */
export interface SetMember {
  nodeId: string;
  /** Where the other members and nodes reach its peer (Raft and forwarding) port. */
  peerAddress: string;
  /** Its CMQ API address. */
  apiAddress: string;
  /** Its SQS API address, when it serves one. */
  sqsAddress?: string;
}

/**
 * A set's load as its leader last reported it. What "load" means: `queues` is the number of queues
 * the set's state machine holds, `messages` and `bytes` its queued (not yet deleted) messages and
 * their bytes across them, `requestsPerSecond` the API requests its leader served per second over
 * its last reporting interval, `atMs` the entry time of the report (not the reporter's clock).
 */
export interface LoadReport {
  queues: number;
  messages: number;
  bytes: number;
  requestsPerSecond: number;
  atMs: number;
}

/**
 * A set. `id` is the controller's name for it (1 is the first set; 0 is never a set, so it can mean
 * "none" on the wire). `group` is the number of the set's Raft group on the peer wire, chosen when
 * the set is registered and distinct between sets: set ids and group numbers are separate so the
 * group every node runs today (0) can become set 1 without renaming its data.
 */
export interface SetRecord {
  id: number;
  group: number;
  state: SetState;
  members: SetMember[];
  /** undefined until the set's first report; placement treats it as idle. */
  load: LoadReport | undefined;
}

/**
 * A route change under way; at most one per entity. Moves and shard growth are the two kinds.
 *
 * A move (of one shard; a queue with one shard moves whole): `copying` from beginMove — the target
 * set creates the queue and copies messages while the source still serves; `cutover` from
 * advanceMove — the source stops taking writes and hands over what is left; completeMove then
 * points the route at the target and ends the move (the route changes only here). abortMove in
 * either phase ends it with the route left on the source.
 *
 * A growth (a queue from K shards to K'): growShards picks the K'-K new sets and records each new
 * shard as pending; the data path creates the shard on its set and confirmShard marks it; when the
 * last is confirmed the route grows to K' shards in one step (so a route never has a hole).
 * abortMove drops the pending shards and leaves the route at K.
 */
export type RouteChange = MoveChange | GrowChange;

export type MovePhase = 'copying' | 'cutover';
export const MOVE_PHASES: readonly MovePhase[] = ['copying', 'cutover'];

export interface MoveChange {
  type: 'move';
  /** Which shard moves (0 for a queue with one shard, and for a topic). */
  shard: number;
  from: number;
  to: number;
  phase: MovePhase;
  startedAtMs: number;
}

export interface PendingShard {
  shard: number;
  set: number;
  confirmed: boolean;
}

export interface GrowChange {
  type: 'grow';
  /** The new shards, indexes K..K'-1 in order. */
  pending: PendingShard[];
  startedAtMs: number;
}

/**
 * A queue or topic and its route. `shards[i]` is the set serving shard i (a topic and an unsharded
 * queue have one shard). `version` changes with every change of this route; it is the value of
 * the cluster's routeEpoch right after that change, so a name deleted and created again never
 * shows an old version, and routeEpoch >= every version.
 */
export interface EntityRecord {
  type: EntityType;
  name: string;
  shards: number[];
  version: number;
  change: RouteChange | undefined;
}

/** Names are unique per type regardless of case, as the broker's are (queueExists says so). */
export function entityKey(type: EntityType, name: string): string {
  return `${type === 'queue' ? 'q' : 't'}:${name.toLowerCase()}`;
}

/** The sets an entity holds or is about to hold: its shards and the target of its change. */
export function setsOf(e: EntityRecord): number[] {
  const out = [...e.shards];
  const c = e.change;
  if (c?.type === 'move') out.push(c.to);
  else if (c?.type === 'grow') for (const p of c.pending) out.push(p.set);
  return out;
}

export function copyMember(m: SetMember): SetMember {
  const out: SetMember = { nodeId: m.nodeId, peerAddress: m.peerAddress, apiAddress: m.apiAddress };
  if (m.sqsAddress !== undefined) out.sqsAddress = m.sqsAddress;
  return out;
}

export function copyChange(c: RouteChange | undefined): RouteChange | undefined {
  if (c === undefined) return undefined;
  if (c.type === 'move') return { ...c };
  return { type: 'grow', pending: c.pending.map((p) => ({ ...p })), startedAtMs: c.startedAtMs };
}

export function copyEntity(e: EntityRecord): EntityRecord {
  return { type: e.type, name: e.name, shards: [...e.shards], version: e.version, change: copyChange(e.change) };
}

export function copySet(s: SetRecord): SetRecord {
  return { id: s.id, group: s.group, state: s.state, members: s.members.map(copyMember), load: s.load === undefined ? undefined : { ...s.load } };
}
