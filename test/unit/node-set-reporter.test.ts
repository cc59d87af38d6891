// The set leader's reports to the controller: it registers its set with every member's addresses,
// replaces the members only when they changed, reports load with the request rate since its last
// report, runs only while leading (at once on gaining leadership, then every interval), and logs a
// failed round (a few lines a minute) and tries again next round; adopts what its set holds (once
// a term, again when the set's counts change), warning of names routed to another set. Against
// the real controller state machine, on a hand-driven clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { ControllerCommand, ControllerQuery, ControllerResult } from '../../src/controller/commands';
import { CONTROLLER_LIMITS, type EntityType } from '../../src/controller/model';
import { ControllerStateMachine } from '../../src/controller/state-machine';
import { fail } from '../../src/protocol/errors';
import type { Logger } from '../../src/protocol/log';
import { CONFLICT_RECHECK_MS, SetReporter, type HeldCounts, type HeldEntities, type MemberAddresses, type SetReporterOptions } from '../../src/node/set-reporter';

class Clock {
  nowMs = 1_000;
  private timers: { fn: () => void; periodMs: number; nextMs: number }[] = [];
  monotonicMs = (): number => this.nowMs;
  setInterval = (fn: () => void, periodMs: number): { fn: () => void; periodMs: number; nextMs: number } => {
    const t = { fn, periodMs, nextMs: this.nowMs + periodMs };
    this.timers.push(t);
    return t;
  };
  clearInterval = (h: unknown): void => {
    this.timers = this.timers.filter((t) => t !== h);
  };
  /** Moves time on by `ms`, running the intervals due, and lets their promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.nowMs + ms;
    for (;;) {
      const next = this.timers.reduce((m, t) => Math.min(m, t.nextMs), Infinity);
      if (next > end) break;
      this.nowMs = next;
      for (const t of this.timers.filter((x) => x.nextMs === next)) {
        t.nextMs += t.periodMs;
        t.fn();
      }
      for (let i = 0; i < 20; i++) await Promise.resolve();
    }
    this.nowMs = end;
  }
}

class FakeController {
  readonly sm = new ControllerStateMachine();
  readonly commands: ControllerCommand[] = [];
  down = false;
  constructor(private readonly clock: Clock) {}
  submit(c: ControllerCommand): Promise<ControllerResult> {
    if (this.down) return Promise.resolve(fail('notApplied', undefined, 'no controller leader'));
    this.commands.push(c);
    return Promise.resolve(this.sm.apply(c, this.clock.nowMs));
  }
  read(q: ControllerQuery): Promise<ControllerResult> {
    if (this.down) return Promise.resolve(fail('notApplied', undefined, 'no controller leader'));
    return Promise.resolve(this.sm.read(q));
  }
  kinds(): string[] {
    return this.commands.map((c) => c.kind);
  }
}

function logger(lines: string[]): Logger {
  const log: Logger = {
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: (msg: string) => void lines.push(msg),
    error: (msg: string) => void lines.push(msg),
    child: () => log,
  };
  return log;
}

const addr = (n: number, api = `http://127.0.0.1:960${n}`): MemberAddresses => ({ peerAddress: `127.0.0.1:970${n}`, apiAddress: api });

interface Setup {
  clock: Clock;
  controller: FakeController;
  reporter: SetReporter;
  warnings: string[];
  state: { leading: boolean; voters: string[]; silent: Set<string>; info: Map<string, MemberAddresses>; requests: number; queues: number };
}

function setup(over: Partial<SetReporterOptions> = {}): Setup {
  const clock = new Clock();
  const controller = new FakeController(clock);
  const warnings: string[] = [];
  const state = {
    leading: true,
    voters: ['n4', 'n5', 'n6'],
    silent: new Set<string>(),
    info: new Map([
      ['n4', addr(4)],
      ['n5', addr(5)],
      ['n6', addr(6)],
    ]),
    requests: 0,
    queues: 2,
  };
  const reporter = new SetReporter({
    setId: 2,
    group: 1,
    selfId: 'n4',
    leads: () => state.leading,
    voters: () => state.voters,
    self: () => state.info.get('n4')!,
    memberInfo: (id) => Promise.resolve(state.silent.has(id) ? undefined : state.info.get(id)),
    load: () => ({ queues: state.queues, messages: 7, bytes: 700, requestsServed: state.requests }),
    controller,
    runtime: clock,
    log: logger(warnings),
    everyMs: 5_000,
    ...over,
  });
  return { clock, controller, reporter, warnings, state };
}

test('a round registers the set with every member\'s addresses, then reports load with the request rate since the last report', async () => {
  const { clock, controller, reporter, state } = setup();
  assert.equal(await reporter.round(), undefined);
  assert.deepEqual(controller.kinds(), ['registerSet', 'reportLoad']);
  const [set] = controller.sm.listSets();
  assert.equal(set?.id, 2);
  assert.equal(set?.group, 1);
  assert.deepEqual(set?.members, ['n4', 'n5', 'n6'].map((id, i) => ({ nodeId: id, ...addr(4 + i) })));
  assert.deepEqual(set?.load, { queues: 2, messages: 7, bytes: 700, requestsPerSecond: 0, atMs: 1_000 });
  // 10 s and 250 requests later: 25 per second; the members did not change, so no setMembers.
  clock.nowMs += 10_000;
  state.requests = 250;
  assert.equal(await reporter.round(), undefined);
  assert.deepEqual(controller.kinds(), ['registerSet', 'reportLoad', 'reportLoad']);
  assert.equal(controller.sm.listSets()[0]?.load?.requestsPerSecond, 25);
  assert.equal(controller.sm.listSets()[0]?.load?.atMs, 11_000);
});

test('members that changed (an address, a member replaced) are sent with setMembers; a silent member keeps the address the controller has', async () => {
  const { controller, reporter, state } = setup();
  await reporter.round();
  state.info.set('n5', addr(5, 'http://10.0.0.5:9600'));
  await reporter.round();
  assert.deepEqual(controller.kinds().slice(2), ['setMembers', 'reportLoad']);
  assert.equal(controller.sm.listSets()[0]?.members[1]?.apiAddress, 'http://10.0.0.5:9600');
  // n6 does not answer: the controller keeps its record; nothing to change.
  state.silent.add('n6');
  await reporter.round();
  assert.deepEqual(controller.kinds().slice(4), ['reportLoad']);
  // n6 replaced by n7 (which answers): the new members go to the controller.
  state.voters = ['n4', 'n5', 'n7'];
  state.info.set('n7', addr(7));
  await reporter.round();
  assert.deepEqual(controller.sm.listSets()[0]?.members.map((m) => m.nodeId), ['n4', 'n5', 'n7']);
});

test('a set is registered only once every member gave its addresses', async () => {
  const { controller, reporter, state } = setup();
  state.silent.add('n5');
  assert.match((await reporter.round()) ?? '', /not every member gave its addresses/);
  assert.deepEqual(controller.kinds(), []);
  state.silent.clear();
  assert.equal(await reporter.round(), undefined);
  assert.deepEqual(controller.kinds(), ['registerSet', 'reportLoad']);
});

test('on its timer: nothing while following, a round at once on gaining leadership, then every interval; failures logged a few times a minute and retried', async () => {
  const { clock, controller, reporter, state, warnings } = setup();
  state.leading = false;
  reporter.start();
  await clock.advance(20_000);
  assert.deepEqual(controller.kinds(), [], 'a follower does not report');
  state.leading = true;
  await clock.advance(500);
  assert.deepEqual(controller.kinds(), ['registerSet', 'reportLoad'], 'a new leader reports within a check');
  await clock.advance(4_000);
  assert.equal(controller.kinds().length, 2, 'not again before the interval');
  await clock.advance(1_500);
  assert.equal(controller.kinds().length, 3, 'again after it');
  // The controller becomes unreachable for a minute: each round fails, a few are logged.
  controller.down = true;
  await clock.advance(60_000);
  assert.ok(warnings.length >= 1 && warnings.length <= 3, `${warnings.length} warnings in a minute: ${warnings.join(' | ')}`);
  assert.match(warnings[0]!, /set 2: the controller was not updated \(listSets: notApplied.*trying again in the next round/);
  controller.down = false;
  await clock.advance(5_500);
  assert.equal(controller.kinds().at(-1), 'reportLoad', 'reports resume once the controller answers');
  // Leadership lost: the reports stop.
  const count = controller.kinds().length;
  state.leading = false;
  await clock.advance(20_000);
  assert.equal(controller.kinds().length, count);
  reporter.stop();
});

test('a controller that has the set under another group is not overwritten: the round says to check --set', async () => {
  const { controller, reporter } = setup();
  controller.sm.apply({ kind: 'registerSet', setId: 2, group: 5, members: [{ nodeId: 'x1', ...addr(1) }] }, 1);
  assert.match((await reporter.round()) ?? '', /as group 5, this node runs it as group 1: check --set/);
  assert.deepEqual(controller.kinds(), []);
});

/** A set's state machine as adoption sees it: names per type, listed in name order, pages by offset. */
class Held implements HeldEntities {
  readonly names: Record<EntityType, string[]> = { queue: [], topic: [] };
  pages = 0;
  broken = false;
  counts(): HeldCounts {
    return { queues: this.names.queue.length, topics: this.names.topic.length };
  }
  page(type: EntityType, offset: number, limit: number): ReturnType<HeldEntities['page']> {
    this.pages++;
    if (this.broken) return Promise.resolve(fail('notApplied', undefined, 'not leader'));
    const sorted = [...this.names[type]].sort();
    return Promise.resolve({ ok: true, totalCount: sorted.length, names: sorted.slice(offset, offset + limit) });
  }
}

function adopts(controller: FakeController): Extract<ControllerCommand, { kind: 'adoptEntities' }>[] {
  return controller.commands.filter((c): c is Extract<ControllerCommand, { kind: 'adoptEntities' }> => c.kind === 'adoptEntities');
}

function routeOf(controller: FakeController, type: EntityType, name: string): number[] | undefined {
  const r = controller.sm.read({ kind: 'getRoute', type, name });
  return r.ok && r.kind === 'entity' ? r.entity.shards : undefined;
}

test('after registering, the leader adopts what its set holds in pages of adoptMax; names routed here are not sent again; a changed count walks again', async () => {
  const held = new Held();
  const limit = CONTROLLER_LIMITS.adoptMax;
  held.names.queue = Array.from({ length: 2 * limit + 5 }, (_, i) => `q-${String(i).padStart(5, '0')}`);
  held.names.topic = ['news', 'alerts'];
  const { controller, reporter, warnings } = setup({ held });
  assert.equal(await reporter.round(), undefined);
  assert.deepEqual(controller.kinds(), ['registerSet', 'reportLoad', 'adoptEntities', 'adoptEntities', 'adoptEntities']);
  assert.deepEqual(adopts(controller).map((c) => [c.setId, c.entities.length]), [
    [2, limit],
    [2, limit],
    // The last page of queues and the topics go together.
    [2, 5 + 2],
  ]);
  assert.equal(reporter.adopted, 2 * limit + 7);
  assert.deepEqual(routeOf(controller, 'queue', 'q-00000'), [2]);
  assert.deepEqual(routeOf(controller, 'queue', `q-${String(2 * limit + 4).padStart(5, '0')}`), [2]);
  assert.deepEqual(routeOf(controller, 'topic', 'alerts'), [2]);
  assert.deepEqual(warnings, []);
  // Nothing changed: no walk, no adoptEntities.
  const pages = held.pages;
  assert.equal(await reporter.round(), undefined);
  assert.equal(held.pages, pages, 'the set was not listed again');
  assert.equal(adopts(controller).length, 3);
  // A queue made on the set while the controller did not know (one more): only that one is sent.
  held.names.queue.push('late');
  assert.equal(await reporter.round(), undefined);
  assert.deepEqual(adopts(controller).at(-1)?.entities, [{ type: 'queue', name: 'late' }]);
  assert.deepEqual(routeOf(controller, 'queue', 'late'), [2]);
  // One deleted: the count differs, the walk finds nothing new to send.
  held.names.queue.shift();
  assert.equal(await reporter.round(), undefined);
  assert.equal(adopts(controller).length, 4);
});

test('nothing is adopted before the set is registered, and without a state machine to read', async () => {
  const held = new Held();
  held.names.queue = ['q'];
  const { controller, reporter, state } = setup({ held });
  state.silent.add('n5');
  assert.match((await reporter.round()) ?? '', /not every member gave its addresses/);
  assert.deepEqual(controller.kinds(), []);
  assert.equal(held.pages, 0);
  const bare = setup();
  assert.equal(await bare.reporter.round(), undefined);
  assert.deepEqual(bare.controller.kinds(), ['registerSet', 'reportLoad']);
});

test('a name the controller routes to another set is a conflict: the route stays, the warning names both sets and says what to do; once one copy is deleted the other gets the route', async () => {
  const held = new Held();
  held.names.queue = ['orders', 'mine'];
  held.names.topic = ['Events'];
  const { clock, controller, reporter, warnings } = setup({ held });
  controller.sm.apply({ kind: 'registerSet', setId: 3, group: 2, members: [{ nodeId: 'x1', ...addr(1) }] }, 1);
  controller.sm.apply({ kind: 'createEntity', type: 'queue', name: 'orders', setId: 3 }, 1);
  controller.sm.apply({ kind: 'createEntity', type: 'topic', name: 'events', setId: 3 }, 1);
  assert.equal(await reporter.round(), undefined);
  assert.deepEqual(routeOf(controller, 'queue', 'orders'), [3], 'the route is left as it was');
  assert.deepEqual(routeOf(controller, 'queue', 'mine'), [2]);
  assert.deepEqual(reporter.conflicts, [
    { type: 'queue', name: 'orders', setId: 3 },
    { type: 'topic', name: 'events', setId: 3 },
  ]);
  assert.equal(warnings.length, 1, warnings.join(' | '));
  assert.match(warnings[0]!, /^set 2: 2 queues or topics on this set have a name the controller routes elsewhere, so requests never reach this set's copy/);
  assert.match(warnings[0]!, /queue orders \(routed to set 3\), topic events \(routed to set 3\)/);
  assert.match(warnings[0]!, /exists on two sets .*: keep one copy and delete the other, after moving its messages to a queue of another name/);
  assert.match(warnings[0]!, /Once the routed copy is deleted, this set's copy gets the route within about a minute$/);
  // Rounds within the recheck interval neither walk nor warn again.
  const sent = adopts(controller).length;
  clock.nowMs += CONFLICT_RECHECK_MS / 2;
  await reporter.round();
  assert.equal(adopts(controller).length, sent);
  assert.equal(warnings.length, 1);
  // Still there a while later: checked again, warned again.
  clock.nowMs += CONFLICT_RECHECK_MS;
  await reporter.round();
  assert.deepEqual(adopts(controller).at(-1)?.entities, [
    { type: 'queue', name: 'orders' },
    { type: 'topic', name: 'Events' },
  ]);
  assert.equal(warnings.length, 2);
  // The operator deletes the copy on set 3 of the queue: this set's copy gets the route at the next check.
  controller.sm.apply({ kind: 'deleteEntity', type: 'queue', name: 'orders' }, 2);
  clock.nowMs += CONFLICT_RECHECK_MS;
  await reporter.round();
  assert.deepEqual(routeOf(controller, 'queue', 'orders'), [2]);
  assert.deepEqual(reporter.conflicts, [{ type: 'topic', name: 'events', setId: 3 }]);
});

test('once per leadership term: a new term walks and sends everything again; a failed walk is logged and retried while load reports go on', async () => {
  const held = new Held();
  held.names.queue = ['a', 'b'];
  const { clock, controller, reporter, state, warnings } = setup({ held });
  reporter.start();
  await clock.advance(500);
  assert.deepEqual(controller.kinds(), ['registerSet', 'reportLoad', 'adoptEntities']);
  await clock.advance(10_000);
  assert.equal(adopts(controller).length, 1, 'not again in the same term while nothing changed');
  // Another member leads for a while, then this one again: it walks afresh (the other member may
  // have changed the set, and the controller may have lost routes meanwhile).
  state.leading = false;
  await clock.advance(1_000);
  state.leading = true;
  await clock.advance(500);
  assert.equal(adopts(controller).length, 2);
  assert.deepEqual(adopts(controller)[1]?.entities, [
    { type: 'queue', name: 'a' },
    { type: 'queue', name: 'b' },
  ]);
  // The set cannot be listed (say its leader is stepping down): the round reports the problem,
  // load reports continue, and the walk is tried again next round.
  held.names.queue.push('c');
  held.broken = true;
  const loads = controller.kinds().filter((k) => k === 'reportLoad').length;
  await clock.advance(5_000);
  assert.equal(controller.kinds().filter((k) => k === 'reportLoad').length, loads + 1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /set 2: the controller was not updated \(listing this set's queues: notApplied/);
  held.broken = false;
  await clock.advance(5_000);
  assert.deepEqual(adopts(controller).at(-1)?.entities, [{ type: 'queue', name: 'c' }]);
  assert.deepEqual(routeOf(controller, 'queue', 'c'), [2]);
  reporter.stop();
});

test('a refused adoption (the controller does not know the command, or the set) is a failed round, retried', async () => {
  const held = new Held();
  held.names.topic = ['t'];
  const { controller, reporter } = setup({ held });
  const real = controller.submit.bind(controller);
  let refuse = true;
  controller.submit = (c) => (refuse && c.kind === 'adoptEntities' ? Promise.resolve(fail('internalError', undefined, 'n1 could not decode the controller call')) : real(c));
  assert.match((await reporter.round()) ?? '', /^adoptEntities: internalError: n1 could not decode/);
  refuse = false;
  assert.equal(await reporter.round(), undefined);
  assert.deepEqual(routeOf(controller, 'topic', 't'), [2]);
});

test('a name routed to this very set but spelled in another case is a conflict too, and the warning says so', async () => {
  const held = new Held();
  held.names.queue = ['Jobs'];
  const { controller, reporter, warnings } = setup({ held });
  await reporter.round(); // registers set 2 (nothing conflicts yet: Jobs is adopted)
  controller.sm.apply({ kind: 'deleteEntity', type: 'queue', name: 'Jobs' }, 2);
  controller.sm.apply({ kind: 'createEntity', type: 'queue', name: 'jobs', setId: 2 }, 2);
  reporter.forgetAdoption();
  await reporter.round();
  assert.deepEqual(reporter.conflicts, [{ type: 'queue', name: 'jobs', setId: 2 }]);
  assert.match(warnings.at(-1) ?? '', /queue jobs \(routed here under a name that differs in case\)/);
});
