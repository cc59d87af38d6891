// The set leader's reports to the controller: it registers its set with every member's addresses,
// replaces the members only when they changed, reports load with the request rate since its last
// report, runs only while leading (at once on gaining leadership, then every interval), and logs a
// failed round (a few lines a minute) and tries again next round. Against the real controller
// state machine, on a hand-driven clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { ControllerCommand, ControllerQuery, ControllerResult } from '../../src/controller/commands';
import { ControllerStateMachine } from '../../src/controller/state-machine';
import { fail } from '../../src/protocol/errors';
import type { Logger } from '../../src/protocol/log';
import { SetReporter, type MemberAddresses, type SetReporterOptions } from '../../src/node/set-reporter';

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
