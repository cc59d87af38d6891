// Sets and a controller for tests of the access layer across sets: each set a real queue state
// machine of its own Raft group behind a QueueService (it can be down), the controller the real
// controller state machine. (The same fakes as test/unit/cluster-shards.test.ts.)

import assert from 'node:assert/strict';

import type { Command, CommandResult, QueueAttributes, QueueList, SubscriptionAttributes, SubscriptionList, TopicAttributes, TopicList } from '../../src/broker/commands';
import { GroupIds } from '../../src/broker/ids';
import { QueueStateMachine } from '../../src/broker/state-machine';
import type { ControllerCommand, ControllerQuery, ControllerResult } from '../../src/controller/commands';
import { ControllerStateMachine } from '../../src/controller/state-machine';
import { ClusterQueueService } from '../../src/node/cluster-service';
import type { SetDirectory } from '../../src/node/remote-sets';
import { fail, type ErrorResult } from '../../src/protocol/errors';
import type { ClusterStatusView, DeadLetterSourceScope, MembershipChange, QueueService, ReceiveOptions, ReceiveOutcome, ServiceResult } from '../../src/service/queue-service';
import type { RequestContext } from '../../src/service/request-context';
import { BrokerHarness } from './broker-harness';
import { captureLogger } from './capture-logger';

export const ctx: RequestContext = { requestId: 'r-1', clientAddress: '', receivedAtMs: 0 };

/** One set: a real queue state machine of Raft group `group`; it can be down, and logs the waits of receives. */
export class FakeSet implements QueueService {
  readonly h = new BrokerHarness();
  down = false;
  /** Commands of these kinds answer notApplied (as a set that cannot be reached for them). */
  readonly refuse = new Set<Command['kind']>();
  readonly submitted: Command[] = [];
  /** The wait of every receive asked, in order. */
  readonly waits: number[] = [];
  /** Runs before a receive that waits is answered (a message arriving during the wait). */
  onWait: ((wait: number) => void) | undefined;
  /** Runs just before a submitted command is applied (something else landing first). */
  beforeApply: ((command: Command) => void) | undefined;

  constructor(
    readonly id: number,
    readonly group: number,
  ) {
    this.h.sm = new QueueStateMachine(new GroupIds(group));
  }

  private gate(kind?: Command['kind']): ErrorResult | undefined {
    if (this.down || (kind !== undefined && this.refuse.has(kind))) return fail('notApplied', undefined, `set ${this.id} is down`);
    return undefined;
  }

  submit(_ctx: RequestContext, command: Command): Promise<CommandResult> {
    const g = this.gate(command.kind);
    if (g) return Promise.resolve(g);
    this.submitted.push(command);
    this.beforeApply?.(command);
    return Promise.resolve(this.h.run(command));
  }

  receive(_ctx: RequestContext, queueName: string, numOfMsg: number, wait: number | undefined, options?: ReceiveOptions): Promise<ReceiveOutcome> {
    const g = this.gate();
    if (g) return Promise.resolve(g);
    this.waits.push(wait ?? -1);
    if (wait !== undefined && wait > 0) this.onWait?.(wait);
    const cmd: Command = { kind: 'receiveMessages', queueName, numOfMsg, seed: 7 };
    if (options?.visibilitySeconds !== undefined) cmd.visibilitySeconds = options.visibilitySeconds;
    const r = this.h.run(cmd);
    if (!r.ok) return Promise.resolve(r);
    assert.equal(r.kind, 'receiveMessages');
    return Promise.resolve({ ok: true, messages: r.messages.map((m) => ({ ...m, bodyBytes: this.h.body(m.body) })) });
  }

  listQueues(_ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<QueueList>> {
    return Promise.resolve(this.gate() ?? { ok: true, ...this.h.sm.listQueues(searchWord, offset, limit) });
  }

  getQueueAttributes(_ctx: RequestContext, queueName: string): Promise<ServiceResult<{ attributes: QueueAttributes }>> {
    const g = this.gate();
    if (g) return Promise.resolve(g);
    const a = this.h.sm.getQueueAttributes(queueName);
    return Promise.resolve(a ? { ok: true, attributes: a } : fail('queueNotExist'));
  }

  listDeadLetterSourceQueues(
    _ctx: RequestContext,
    dlq: string,
    searchWord: string | undefined,
    offset: number,
    limit: number,
    scope?: DeadLetterSourceScope,
  ): Promise<ServiceResult<QueueList>> {
    const g = this.gate();
    if (g) return Promise.resolve(g);
    if (scope?.remoteOnly === true) return Promise.resolve({ ok: true, ...this.h.sm.listRemoteDeadLetterSources(dlq, searchWord, offset, limit) });
    const r = this.h.sm.listDeadLetterSourceQueues(dlq, searchWord, offset, limit);
    return Promise.resolve('ok' in r ? r : { ok: true, ...r });
  }

  listTopics(_ctx: RequestContext, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<TopicList>> {
    return Promise.resolve(this.gate() ?? { ok: true, ...this.h.sm.listTopics(searchWord, offset, limit) });
  }

  getTopicAttributes(): Promise<ServiceResult<{ attributes: TopicAttributes }>> {
    return Promise.resolve(fail('topicNotExist'));
  }

  listSubscriptions(_ctx: RequestContext, topicName: string, searchWord: string | undefined, offset: number, limit: number): Promise<ServiceResult<SubscriptionList>> {
    const g = this.gate();
    if (g) return Promise.resolve(g);
    const r = this.h.sm.listSubscriptions(topicName, searchWord, offset, limit);
    return Promise.resolve('ok' in r ? r : { ok: true, ...r });
  }

  getSubscriptionAttributes(): Promise<ServiceResult<{ attributes: SubscriptionAttributes }>> {
    return Promise.resolve(fail('topicNotExist'));
  }

  listMoveTasks(_ctx: RequestContext, sourceQueue: string): ReturnType<QueueService['listMoveTasks']> {
    const r = this.h.sm.listMoveTasks(sourceQueue);
    return Promise.resolve(Array.isArray(r) ? { ok: true, tasks: r } : r);
  }

  clusterStatus(): Promise<ServiceResult<{ status: ClusterStatusView }>> {
    return Promise.resolve(fail('notApplied'));
  }

  transferLeader(): Promise<ServiceResult<{ from: string; to: string }>> {
    return Promise.resolve(fail('notApplied'));
  }

  changeMembership(_ctx: RequestContext, _change: MembershipChange): Promise<ServiceResult<{ voters: string[] }>> {
    return Promise.resolve(fail('notApplied'));
  }

  has(queueName: string): boolean {
    return this.h.sm.getQueueAttributes(queueName) !== undefined;
  }

  /** Messages of the queue on this set: visible, in flight, delayed. */
  counts(queueName: string): { active: number; inactive: number } {
    const a = this.h.sm.getQueueAttributes(queueName);
    assert.ok(a, `set ${this.id} holds ${queueName}`);
    return { active: a.activeMsgNum, inactive: a.inactiveMsgNum };
  }
}

/** The real controller state machine as the access layer reaches it; counts what it was asked. */
export class Controller {
  readonly sm = new ControllerStateMachine();
  private timeMs = 1_000;
  down = false;
  readonly submitted: ControllerCommand[] = [];
  readonly reads: ControllerQuery[] = [];

  submit(c: ControllerCommand): Promise<ControllerResult> {
    this.submitted.push(c);
    if (this.down) return Promise.resolve(fail('notApplied', undefined, 'no controller leader'));
    return Promise.resolve(this.sm.apply(c, (this.timeMs += 10)));
  }

  read(q: ControllerQuery): Promise<ControllerResult> {
    this.reads.push(q);
    if (this.down) return Promise.resolve(fail('notApplied', undefined, 'no controller leader'));
    return Promise.resolve(this.sm.read(q));
  }

  shards(name: string): number[] | undefined {
    return this.sm.route('queue', name)?.shards;
  }
}

/** Set 1 runs Raft group 0 (ids without a prefix), set s > 1 group s. */
export function groupOf(setId: number): number {
  return setId === 1 ? 0 : setId;
}

export function cluster(n = 3): {
  sets: FakeSet[];
  set: (id: number) => FakeSet;
  controller: Controller;
  svc: ClusterQueueService;
  node: (ownSetId: number, nowMs?: () => number) => ClusterQueueService;
} {
  const sets = Array.from({ length: n }, (_, i) => new FakeSet(i + 1, groupOf(i + 1)));
  const set = (id: number): FakeSet => sets[id - 1]!;
  const controller = new Controller();
  for (const s of sets) {
    const r = controller.sm.apply({ kind: 'registerSet', setId: s.id, group: s.group, members: [{ nodeId: `n${s.id}`, peerAddress: `p${s.id}`, apiAddress: `a${s.id}` }] }, 1);
    assert.ok(r.ok);
  }
  const node = (ownSetId: number, nowMs?: () => number): ClusterQueueService => {
    const directory: SetDirectory = { service: (id) => set(id), invalidate: () => undefined };
    return new ClusterQueueService({ ownSetId, own: set(ownSetId), sets: directory, controller, log: captureLogger(), pollSliceSeconds: 1, ...(nowMs ? { nowMs } : {}) });
  };
  return { sets, set, controller, svc: node(1), node };
}

export function errorOf(r: { ok: boolean }): string | undefined {
  return r.ok ? undefined : (r as ErrorResult).error;
}

export async function ok<K extends Command['kind']>(svc: QueueService, cmd: Command & { kind: K }): Promise<Extract<CommandResult, { ok: true; kind: K }>> {
  const r = await svc.submit(ctx, cmd);
  assert.ok(r.ok, `${cmd.kind}: ${JSON.stringify(r)}`);
  assert.equal(r.kind, cmd.kind);
  return r as Extract<CommandResult, { ok: true; kind: K }>;
}

export function send(svc: QueueService, queueName: string, body: string, dedupId?: string): Promise<Extract<CommandResult, { ok: true; kind: 'sendMessages' }>> {
  const cmd: Command = { kind: 'sendMessages', queueName, delaySeconds: null, bodies: [Buffer.from(body)] };
  if (dedupId !== undefined) cmd.options = [{ dedupId }];
  return ok(svc, cmd);
}

