// Three node hosts, each running queue group 0 and a replica of the controller's group, on the
// simulator's scaffolding (virtual time, simulated disks and network): started, crashed (the
// process dies, its disk keeps what it wrote), restarted on the same disk, partitioned.

import assert from 'node:assert/strict';
import type { ControllerResult } from '../../src/controller/commands';
import type { SetMember } from '../../src/controller/model';
import { CONTROLLER_GROUP } from '../../src/broker/ids';
import type { ControllerNode } from '../../src/node/controller-node';
import { NodeHost } from '../../src/node/host';
import type { LogEntry } from '../../src/storage/types';
import { Prng } from '../sim/prng';
import { SimFs } from '../sim/sim-fs';
import { SimNetwork } from '../sim/sim-network';
import { SimProcessRuntime, SimScheduler } from '../sim/sim-runtime';

export const IDS = ['n1', 'n2', 'n3'] as const;
const quiet = (): void => undefined;

export function setMembers(setId: number): SetMember[] {
  return IDS.map((id, i) => ({ nodeId: id, peerAddress: `10.0.${setId}.${i + 1}:7000`, apiAddress: `10.0.${setId}.${i + 1}:12345` }));
}

export interface ControllerHostsOptions {
  seed?: number;
  /** The controller's snapshot threshold (applied entries). */
  snapshotEveryEntries?: number;
}

export class ControllerHosts {
  readonly scheduler = new SimScheduler(1_700_000_000_000);
  private readonly prng: Prng;
  readonly network: SimNetwork;
  readonly disks = new Map<string, SimFs>(IDS.map((id) => [id, new SimFs()]));
  readonly hosts = new Map<string, NodeHost>();
  private readonly runtimes = new Map<string, SimProcessRuntime>();
  private incarnation = 0;
  /** Every controller entry each node applied, with its result, in order (replays after a restart included). */
  readonly applied = new Map<string, { index: number; result: ControllerResult }[]>(IDS.map((id) => [id, []]));

  constructor(private readonly opts: ControllerHostsOptions = {}) {
    this.prng = new Prng(opts.seed ?? 7);
    this.network = new SimNetwork(this.scheduler, this.prng.fork());
  }

  static async start(opts: ControllerHostsOptions = {}): Promise<ControllerHosts> {
    const c = new ControllerHosts(opts);
    await c.settled(Promise.all(IDS.map((id) => c.boot(id))));
    return c;
  }

  async settled<T>(p: Promise<T>, maxMs = 30_000): Promise<T> {
    const r = await this.scheduler.settle(p, maxMs);
    assert.ok(r, 'did not settle in virtual time');
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  }

  /** Starts a process on `id`'s disk and opens its host (recovering what the disk holds). */
  async boot(id: string): Promise<NodeHost> {
    const runtime = new SimProcessRuntime(this.scheduler, `${id}#${++this.incarnation}`, 0, this.prng.fork());
    this.runtimes.set(id, runtime);
    const peers = Object.fromEntries(IDS.filter((p) => p !== id).map((p, i) => [p, { host: 'sim', port: i + 1 }]));
    const seen = this.applied.get(id)!;
    // A replay after a restart applies entries again from the snapshot on: keep one record per index.
    const onApplied = (e: LogEntry, result: ControllerResult): void => {
      const at = seen.findIndex((a) => a.index >= e.index);
      if (at >= 0) seen.splice(at);
      seen.push({ index: e.index, result });
    };
    const host = await NodeHost.open(
      {
        dataDir: `/data/${id}`,
        nodeId: id,
        network: this.network.attach(id, runtime),
        replica: { fs: this.disks.get(id)!, runtime, log: quiet },
        controller: { onApplied, ...(this.opts.snapshotEveryEntries !== undefined ? { snapshotEveryEntries: this.opts.snapshotEveryEntries } : {}) },
      },
      [
        { group: 0, voters: [...IDS], staticPeers: peers },
        { group: CONTROLLER_GROUP, kind: 'controller', voters: [...IDS], staticPeers: peers },
      ],
    );
    this.hosts.set(id, host);
    return host;
  }

  /**
   * A power loss on `id`: the process dies at once (nothing closed), and of the writes not yet
   * fsynced its disk keeps, loses or tears each as the crash model decides (sim-fs.ts).
   */
  crash(id: string): void {
    this.runtimes.get(id)!.kill();
    this.hosts.delete(id);
    this.disks.set(id, this.disks.get(id)!.crash(this.prng).fs);
  }

  /** The process on `id` is stopped (SIGSTOP) until `untilMs`: nothing of it runs meanwhile, then everything due does. */
  pause(id: string, untilMs: number): void {
    this.runtimes.get(id)!.freeze(untilMs);
  }

  controller(id: string): ControllerNode {
    const h = this.hosts.get(id);
    assert.ok(h, `${id} is not running`);
    return h.controller();
  }

  /** The node among `among` whose controller replica leads and is known as leader by all of them, if any. */
  controllerLeader(among: readonly string[] = IDS): string | undefined {
    const leader = among.find((id) => this.hosts.get(id)?.controller().leads());
    return leader !== undefined && among.every((id) => this.hosts.get(id)?.controller().leaderId() === leader) ? leader : undefined;
  }

  async untilControllerLeader(among: readonly string[] = IDS): Promise<string> {
    assert.ok(await this.scheduler.runUntilTrue(() => this.controllerLeader(among) !== undefined, 20_000), 'the controller elects a leader its members know');
    return this.controllerLeader(among)!;
  }

  /** Runs until every running replica applied the same entries as `id`'s leader. */
  async untilCaughtUp(): Promise<void> {
    const running = [...this.hosts.keys()];
    const applied = (id: string): number => this.controller(id).stats().lastAppliedIndex;
    const ok = await this.scheduler.runUntilTrue(() => running.every((id) => applied(id) === applied(running[0]!)) && applied(running[0]!) > 0, 20_000);
    assert.ok(ok, `replicas catch up: ${running.map((id) => `${id}@${applied(id)}`).join(', ')}`);
  }

  async closeAll(): Promise<void> {
    await this.settled(Promise.all([...this.hosts.values()].map((h) => h.close())));
    this.hosts.clear();
  }
}
