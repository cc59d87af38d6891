// The controller state machine: the cluster's metadata (sets, the route of every queue and topic,
// load reports, route changes under way), changed only by applying commands in log order. Pure
// and deterministic like the broker's: time comes only from the entry's time argument, nothing
// here reads a clock, draws a random number or does I/O, so every replica (and every restore of a
// snapshot) reaches the same state and the same results.
//
// Route versions. routeEpoch counts route changes cluster-wide (create, delete, a move begun,
// advanced, aborted or completed, a growth completed); an entity's version is the routeEpoch its last route change produced. A
// route cache keyed by name compares versions for one entity and routeEpoch for "anything changed"
// (a move's phases change how a route is served, not its shards: they move the epoch only).
// Membership and load changes are not route changes and leave both alone. adoptEntities routes
// many entities in one command: each one adopted is its own route change (routeEpoch grows by the
// number adopted, each gets its own version), so "epoch + routes changed" holds for it too.
//
// What a command does is part of the log format, as its bytes are: replicas of two releases
// applying the same entry differently diverge (routeEpoch and every later version). The move
// phases moving the epoch came without a gate because no released controller applies them any
// other way: the release before this one has no controller at all (a set of it joins a cluster
// by upgrading in place, see docs/operations.md), so every controller replica runs this code.
// From the first release with a controller on, a change of what an existing command does must
// come as a new command kind or field, proposed only while every controller voter applies it,
// as the broker's are (broker/compat.ts, node/version-gate.ts); the epochs and versions each
// command produces are pinned by test/unit/controller-routes.test.ts.

import { fail, type ErrorResult } from '../protocol/errors';
import { CONTROLLER_GROUP } from '../protocol/groups';
import type { AdoptConflict, ControllerCommand, ControllerQuery, ControllerResult, EntityRef, SetView } from './commands';
import { checkState, invariant, type ControllerStateView } from './invariant';
import {
  CONTROLLER_LIMITS,
  copyEntity,
  copyMember,
  copySet,
  ENTITY_NAME_RE,
  entityKey,
  setsOf,
  type EntityRecord,
  type EntityType,
  type SetMember,
  type SetRecord,
} from './model';
import { chooseSets } from './placement';
import { decodeSnapshot, encodeSnapshot, type ControllerSnapshot } from './snapshot';

function isId(v: number, min: number): boolean {
  return Number.isSafeInteger(v) && v >= min && v <= CONTROLLER_LIMITS.idMax;
}

function notExist(type: EntityType): ErrorResult {
  return fail(type === 'queue' ? 'queueNotExist' : 'topicNotExist');
}

function fieldOk(s: string | undefined, optional: boolean): boolean {
  if (s === undefined) return optional;
  return typeof s === 'string' && s.length >= 1 && s.length <= CONTROLLER_LIMITS.memberFieldCharsMax;
}

/** 1 to membersMax members with distinct node ids and non-empty addresses; else the refusal. */
function checkMembers(members: readonly SetMember[]): ErrorResult | undefined {
  if (members.length < 1 || members.length > CONTROLLER_LIMITS.membersMax) {
    return fail('paramOutOfRange', 'members', `(${members.length} members; 1 to ${CONTROLLER_LIMITS.membersMax})`);
  }
  const ids = new Set<string>();
  for (const m of members) {
    if (!fieldOk(m.nodeId, false) || !fieldOk(m.peerAddress, false) || !fieldOk(m.apiAddress, false) || !fieldOk(m.sqsAddress, true)) {
      return fail('paramOutOfRange', 'members', `(a node id or address empty or over ${CONTROLLER_LIMITS.memberFieldCharsMax} characters)`);
    }
    if (ids.has(m.nodeId)) return fail('paramOutOfRange', 'members', `(node ${m.nodeId} listed twice)`);
    ids.add(m.nodeId);
  }
  return undefined;
}

function nonNegative(v: number, integer: boolean): boolean {
  return Number.isFinite(v) && v >= 0 && (!integer || Number.isSafeInteger(v));
}

export class ControllerStateMachine {
  private routeEpoch = 0;
  private readonly sets = new Map<number, SetRecord>();
  /** Raft group number -> set id (group numbers are distinct between sets). */
  private readonly groups = new Map<number, number>();
  /** By entityKey (type and lower-cased name). */
  private readonly entities = new Map<string, EntityRecord>();
  /** Per set id: shards on it plus those moving or being added to it (placement's entity count). */
  private readonly hosted = new Map<number, number>();

  get epoch(): number {
    return this.routeEpoch;
  }

  /** The state as the invariant check and the snapshot see it (live maps: do not change). */
  view(): ControllerStateView {
    return { routeEpoch: this.routeEpoch, sets: this.sets, entities: this.entities, hosted: this.hosted };
  }

  /** `timeMs`: the entry's time (integer ms, from the log); a driver bug otherwise, so it throws. */
  apply(cmd: ControllerCommand, timeMs: number): ControllerResult {
    invariant(Number.isSafeInteger(timeMs) && timeMs >= 0, () => `entry time ${timeMs}`);
    switch (cmd.kind) {
      case 'registerSet':
        return this.registerSet(cmd.setId, cmd.group, cmd.members);
      case 'setMembers':
        return this.withSet(cmd.setId, (s) => {
          const bad = checkMembers(cmd.members);
          if (bad) return bad;
          s.members = cmd.members.map(copyMember);
          return this.done();
        });
      case 'setSetState':
        return this.withSet(cmd.setId, (s) => {
          s.state = cmd.state;
          return this.done();
        });
      case 'reportLoad':
        return this.withSet(cmd.setId, (s) => {
          for (const [field, integer] of [['queues', true], ['messages', true], ['bytes', true], ['requestsPerSecond', false]] as const) {
            if (!nonNegative(cmd[field], integer)) return fail('paramOutOfRange', field);
          }
          s.load = { queues: cmd.queues, messages: cmd.messages, bytes: cmd.bytes, requestsPerSecond: cmd.requestsPerSecond, atMs: timeMs };
          return this.done();
        });
      case 'createEntity':
        return this.createEntity(cmd.type, cmd.name, cmd.shards ?? 1, cmd.setId);
      case 'deleteEntity':
        return this.withEntity(cmd.type, cmd.name, (e) => this.deleteEntity(e));
      case 'beginMove':
        return this.withEntity(cmd.type, cmd.name, (e) => this.beginMove(e, cmd.to, cmd.shard ?? 0, timeMs));
      case 'advanceMove':
        return this.withEntity(cmd.type, cmd.name, (e) => this.advanceMove(e));
      case 'completeMove':
        return this.withEntity(cmd.type, cmd.name, (e) => this.completeMove(e));
      case 'abortMove':
        return this.withEntity(cmd.type, cmd.name, (e) => this.abortMove(e));
      case 'growShards':
        return this.withEntity('queue', cmd.name, (e) => this.growShards(e, cmd.shards, timeMs));
      case 'confirmShard':
        return this.withEntity('queue', cmd.name, (e) => this.confirmShard(e, cmd.shard));
      case 'adoptEntities':
        return this.withSet(cmd.setId, (s) => this.adoptEntities(s, cmd.entities));
    }
  }

  read(q: ControllerQuery): ControllerResult {
    switch (q.kind) {
      case 'getRoute': {
        const e = this.find(q.type, q.name);
        return e ? this.entityResult(e) : notExist(q.type);
      }
      case 'listRoutes':
        return this.listRoutes(q.type, q.prefix, q.offset, q.limit);
      case 'listSets':
        return { ok: true, kind: 'sets', sets: this.listSets(), routeEpoch: this.routeEpoch };
      case 'listChanges':
        return this.listChanges(q.offset, q.limit);
    }
  }

  /** The sets by id, each with the controller's count of what it holds. */
  listSets(): SetView[] {
    return [...this.sets.values()].sort((a, b) => a.id - b.id).map((s) => ({ ...copySet(s), entities: this.hosted.get(s.id) ?? 0 }));
  }

  /** Where the queue or topic lives (undefined: no such entity). Names match exactly. */
  route(type: EntityType, name: string): EntityRecord | undefined {
    const e = this.find(type, name);
    return e && copyEntity(e);
  }

  snapshot(): Uint8Array {
    return encodeSnapshot({
      routeEpoch: this.routeEpoch,
      sets: [...this.sets.values()],
      entities: [...this.entities.values()],
    });
  }

  /** A machine in the state of `bytes`; undefined when they are not a valid snapshot. */
  static restore(bytes: Uint8Array): ControllerStateMachine | undefined {
    const snap = decodeSnapshot(bytes);
    return snap && ControllerStateMachine.fromSnapshot(snap);
  }

  private static fromSnapshot(snap: ControllerSnapshot): ControllerStateMachine | undefined {
    const m = new ControllerStateMachine();
    m.routeEpoch = snap.routeEpoch;
    for (const s of snap.sets) {
      if (m.sets.has(s.id) || m.groups.has(s.group)) return undefined;
      m.sets.set(s.id, copySet(s));
      m.groups.set(s.group, s.id);
      m.hosted.set(s.id, 0);
    }
    for (const e of snap.entities) {
      const key = entityKey(e.type, e.name);
      if (m.entities.has(key)) return undefined;
      m.entities.set(key, copyEntity(e));
      for (const id of setsOf(e)) m.hosted.set(id, (m.hosted.get(id) ?? 0) + 1);
    }
    try {
      checkState(m.view());
    } catch {
      return undefined; // well-formed bytes of an impossible state: not a snapshot we wrote
    }
    return m;
  }

  private done(): ControllerResult {
    return { ok: true, kind: 'done', routeEpoch: this.routeEpoch };
  }

  private entityResult(e: EntityRecord): ControllerResult {
    return { ok: true, kind: 'entity', entity: copyEntity(e), routeEpoch: this.routeEpoch };
  }

  private find(type: EntityType, name: string): EntityRecord | undefined {
    const e = this.entities.get(entityKey(type, name));
    return e?.name === name ? e : undefined;
  }

  private withSet(setId: number, fn: (s: SetRecord) => ControllerResult): ControllerResult {
    if (!isId(setId, 1)) return fail('paramOutOfRange', 'setId');
    const s = this.sets.get(setId);
    return s ? fn(s) : fail('setNotExist', String(setId));
  }

  private withEntity(type: EntityType, name: string, fn: (e: EntityRecord) => ControllerResult): ControllerResult {
    const e = this.find(type, name);
    return e ? fn(e) : notExist(type);
  }

  private count(setId: number, delta: number): void {
    const n = (this.hosted.get(setId) ?? 0) + delta;
    invariant(n >= 0 && this.sets.has(setId), `count of set ${setId} to ${n}`);
    this.hosted.set(setId, n);
  }

  private choose(count: number, exclude?: ReadonlySet<number>): number[] {
    return chooseSets({ sets: this.sets.values(), entities: (id) => this.hosted.get(id) ?? 0 }, count, exclude);
  }

  private registerSet(setId: number, group: number, members: readonly SetMember[]): ControllerResult {
    if (!isId(setId, 1)) return fail('paramOutOfRange', 'setId');
    if (!isId(group, 0)) return fail('paramOutOfRange', 'group');
    if (group === CONTROLLER_GROUP) return fail('paramOutOfRange', 'group', `(${group} is the controller's own group)`);
    if (this.sets.has(setId)) return fail('setExists', undefined, `(set ${setId})`);
    const other = this.groups.get(group);
    if (other !== undefined) return fail('setExists', undefined, `(group ${group} is set ${other}'s)`);
    const bad = checkMembers(members);
    if (bad) return bad;
    this.sets.set(setId, { id: setId, group, state: 'active', members: members.map(copyMember), load: undefined });
    this.groups.set(group, setId);
    this.hosted.set(setId, 0);
    return this.done();
  }

  /**
   * `setId` given: on that set, which must exist and be active. Only for one shard: placement
   * spreads the shards of a sharded queue over distinct sets, which one chosen set cannot do, so
   * `setId` with shards > 1 is refused as paramOutOfRange rather than half-honoured.
   */
  private createEntity(type: EntityType, name: string, shards: number, setId: number | undefined): ControllerResult {
    if (!ENTITY_NAME_RE.test(name)) return fail(type === 'queue' ? 'queueNameFormat' : 'topicNameFormat');
    const maxShards = type === 'queue' ? CONTROLLER_LIMITS.shardsMax : 1;
    if (!Number.isSafeInteger(shards) || shards < 1 || shards > maxShards) return fail('paramOutOfRange', 'shards');
    if (setId !== undefined) {
      if (!isId(setId, 1)) return fail('paramOutOfRange', 'setId');
      if (shards > 1) return fail('paramOutOfRange', 'setId', `(a queue of ${shards} shards is placed by the controller; setId places a queue of one shard)`);
    }
    const key = entityKey(type, name);
    if (this.entities.has(key)) return fail(type === 'queue' ? 'queueExists' : 'topicExists');
    let chosen: number[];
    if (setId !== undefined) {
      const target = this.sets.get(setId);
      if (!target) return fail('setNotExist', String(setId));
      if (target.state !== 'active') return fail('setNotActive', String(setId));
      chosen = [setId];
    } else {
      chosen = this.choose(shards);
      if (chosen.length < shards) return fail('notEnoughSets', String(shards), `(${chosen.length} active)`);
    }
    this.routeEpoch++;
    const e: EntityRecord = { type, name, shards: chosen, version: this.routeEpoch, change: undefined };
    this.entities.set(key, e);
    for (const id of chosen) this.count(id, 1);
    return this.entityResult(e);
  }

  private deleteEntity(e: EntityRecord): ControllerResult {
    if (e.change) return fail('routeChangeRunning');
    this.entities.delete(entityKey(e.type, e.name));
    for (const id of e.shards) this.count(id, -1);
    this.routeEpoch++;
    return this.entityResult(e);
  }

  private beginMove(e: EntityRecord, to: number, shard: number, timeMs: number): ControllerResult {
    if (e.change) return fail('routeChangeRunning');
    if (!Number.isSafeInteger(shard) || shard < 0 || shard >= e.shards.length) return fail('paramOutOfRange', 'shard');
    if (!isId(to, 1)) return fail('paramOutOfRange', 'to');
    const target = this.sets.get(to);
    if (!target) return fail('setNotExist', String(to));
    if (e.shards.includes(to)) return fail('setHoldsEntity', String(to));
    if (target.state !== 'active') return fail('setNotActive', String(to));
    e.change = { type: 'move', shard, from: e.shards[shard]!, to, phase: 'copying', startedAtMs: timeMs };
    this.count(to, 1);
    // Not a new route (the version stays), but the data path routes a moving queue differently
    // (sends to the target, receives from both): the epoch tells cached routes to look again.
    this.routeEpoch++;
    return this.entityResult(e);
  }

  private advanceMove(e: EntityRecord): ControllerResult {
    const c = e.change;
    if (!c) return fail('routeChangeNotExist');
    if (c.type !== 'move' || c.phase !== 'copying') return fail('routeChangePhase', undefined, `(${c.type === 'move' ? c.phase : 'growing'})`);
    c.phase = 'cutover';
    this.routeEpoch++;
    return this.entityResult(e);
  }

  private completeMove(e: EntityRecord): ControllerResult {
    const c = e.change;
    if (!c) return fail('routeChangeNotExist');
    if (c.type !== 'move' || c.phase !== 'cutover') return fail('routeChangePhase', undefined, `(${c.type === 'move' ? c.phase : 'growing'})`);
    invariant(e.shards[c.shard] === c.from, () => `${e.name}: move from ${c.from} but shard ${c.shard} is on ${e.shards[c.shard]}`);
    e.shards[c.shard] = c.to;
    this.count(c.from, -1);
    e.change = undefined;
    e.version = ++this.routeEpoch;
    return this.entityResult(e);
  }

  private abortMove(e: EntityRecord): ControllerResult {
    const c = e.change;
    if (!c) return fail('routeChangeNotExist');
    if (c.type === 'move') {
      this.count(c.to, -1);
      this.routeEpoch++; // cached routes stop sending to the target (see beginMove)
    } else for (const p of c.pending) this.count(p.set, -1);
    e.change = undefined;
    return this.entityResult(e);
  }

  private growShards(e: EntityRecord, shards: number, timeMs: number): ControllerResult {
    if (e.change) return fail('routeChangeRunning');
    const k = e.shards.length;
    if (!Number.isSafeInteger(shards) || shards <= k || shards > CONTROLLER_LIMITS.shardsMax) return fail('paramOutOfRange', 'shards', `(${k} now, at most ${CONTROLLER_LIMITS.shardsMax})`);
    const chosen = this.choose(shards - k, new Set(e.shards));
    if (chosen.length < shards - k) return fail('notEnoughSets', String(shards), `(${chosen.length} more active sets without a shard)`);
    e.change = { type: 'grow', pending: chosen.map((set, i) => ({ shard: k + i, set, confirmed: false })), startedAtMs: timeMs };
    for (const id of chosen) this.count(id, 1);
    return this.entityResult(e);
  }

  /** Confirming a shard already confirmed changes nothing (a retried confirmation succeeds). */
  private confirmShard(e: EntityRecord, shard: number): ControllerResult {
    const c = e.change;
    if (!c) return fail('routeChangeNotExist');
    const p = c.type === 'grow' ? c.pending.find((x) => x.shard === shard) : undefined;
    if (c.type !== 'grow' || !p) return fail('routeChangePhase', undefined, `(shard ${shard} is not pending)`);
    p.confirmed = true;
    if (c.pending.every((x) => x.confirmed)) {
      for (const x of c.pending) e.shards.push(x.set);
      e.change = undefined;
      e.version = ++this.routeEpoch;
    }
    return this.entityResult(e);
  }

  /**
   * Routes to `set` every listed entity that has no route. Names are checked first and a bad one
   * refuses the whole command (nothing adopted), so a refusal changes nothing. An entity whose
   * name matches a route only regardless of case is a conflict even on this set: lookups match
   * exact names, so neither spelling would reach the set's queue.
   */
  private adoptEntities(set: SetRecord, entities: readonly EntityRef[]): ControllerResult {
    if (entities.length > CONTROLLER_LIMITS.adoptMax) return fail('paramOutOfRange', 'entities', `(${entities.length}; at most ${CONTROLLER_LIMITS.adoptMax} per command)`);
    for (const { type, name } of entities) if (!ENTITY_NAME_RE.test(name)) return fail(type === 'queue' ? 'queueNameFormat' : 'topicNameFormat', undefined, `(${JSON.stringify(name)})`);
    let adopted = 0;
    const conflicts: AdoptConflict[] = [];
    for (const { type, name } of entities) {
      const key = entityKey(type, name);
      const e = this.entities.get(key);
      if (e === undefined) {
        this.routeEpoch++;
        this.entities.set(key, { type, name, shards: [set.id], version: this.routeEpoch, change: undefined });
        this.count(set.id, 1);
        adopted++;
      } else if (e.name !== name || !setsOf(e).includes(set.id)) {
        conflicts.push({ type, name: e.name, setId: e.shards[0]! });
      }
    }
    return { ok: true, kind: 'adopted', adopted, conflicts, routeEpoch: this.routeEpoch };
  }

  private listRoutes(type: EntityType, prefix: string, offset: number, limit: number): ControllerResult {
    const bad = checkPage(offset, limit);
    if (bad) return bad;
    const matches = [...this.entities.values()].filter((e) => e.type === type && e.name.startsWith(prefix)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { ok: true, kind: 'routes', totalCount: matches.length, entities: matches.slice(offset, offset + limit).map(copyEntity), routeEpoch: this.routeEpoch };
  }

  /**
   * The entities with a change under way, oldest change first: one stuck for long is what an
   * operator looks for, and it stays on the first page however many start after it. Ties (changes
   * begun by the same entry time) go queues first, then by name, so every replica pages alike.
   */
  private listChanges(offset: number, limit: number): ControllerResult {
    const bad = checkPage(offset, limit);
    if (bad) return bad;
    const changing = [...this.entities.values()]
      .filter((e) => e.change !== undefined)
      .sort((a, b) => a.change!.startedAtMs - b.change!.startedAtMs || (a.type === b.type ? 0 : a.type === 'queue' ? -1 : 1) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { ok: true, kind: 'routes', totalCount: changing.length, entities: changing.slice(offset, offset + limit).map(copyEntity), routeEpoch: this.routeEpoch };
  }
}

/** A page's offset and limit as listRoutes and listChanges take them; else the refusal. */
function checkPage(offset: number, limit: number): ErrorResult | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0) return fail('paramOutOfRange', 'offset');
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > CONTROLLER_LIMITS.listLimitMax) return fail('paramOutOfRange', 'limit');
  return undefined;
}
