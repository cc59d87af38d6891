// The scale model of a cluster of many sets: what the controller, the route caches and the nodes
// hold and exchange at a given size, computed from measured per-set figures and from the real
// controller code (its state machine, codec and snapshot are run here at that size, not
// estimated). Prints one table; docs/scale-model.md shows a run and says what each line assumes.
//
//   node dist/bench/scale-model.js [--sets 100] [--queues 100000] [--msgs-per-second 1000000]
//     [--set-msgs-per-second 40000] [--msg-bytes 1024] [--backlog-messages 300000000]
//     [--route-changes-per-second 10]

import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { encodeControllerCommand, encodeControllerQuery, encodeControllerResult } from '../src/controller/codec';
import type { ControllerCommand } from '../src/controller/commands';
import type { EntityRecord, SetMember } from '../src/controller/model';
import { ControllerStateMachine } from '../src/controller/state-machine';
import { RouteCache } from '../src/node/route-cache';

/** Members per set (a 3-node Raft set) and controller voters. */
const SET_MEMBERS = 3;
const CONTROLLER_VOTERS = 3;

interface Inputs {
  sets: number;
  queues: number;
  msgsPerSecond: number;
  setMsgsPerSecond: number;
  msgBytes: number;
  backlogMessages: number;
  routeChangesPerSecond: number;
}

function inputs(): Inputs {
  const { values } = parseArgs({
    options: {
      sets: { type: 'string', default: '100' },
      queues: { type: 'string', default: '100000' },
      'msgs-per-second': { type: 'string', default: '1000000' },
      'set-msgs-per-second': { type: 'string', default: '40000' },
      'msg-bytes': { type: 'string', default: '1024' },
      'backlog-messages': { type: 'string', default: '300000000' },
      'route-changes-per-second': { type: 'string', default: '10' },
    },
  });
  const n = (name: keyof typeof values): number => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
    return v;
  };
  return {
    sets: n('sets'),
    queues: n('queues'),
    msgsPerSecond: n('msgs-per-second'),
    setMsgsPerSecond: n('set-msgs-per-second'),
    msgBytes: n('msg-bytes'),
    backlogMessages: n('backlog-messages'),
    routeChangesPerSecond: n('route-changes-per-second'),
  };
}

/** A full collection, so heap figures measure what is kept, not garbage. */
const collect: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function heapUsed(): number {
  collect();
  return process.memoryUsage().heapUsed;
}

function members(set: number): SetMember[] {
  return Array.from({ length: SET_MEMBERS }, (_, i) => {
    const host = `10.0.${Math.floor(set / 250)}.${(set % 250) + 1}`;
    return { nodeId: `s${set}n${i + 1}`, peerAddress: `${host}:${9701 + i}`, apiAddress: `${host}:${9601 + i}`, sqsAddress: `${host}:${9324 + i}` };
  });
}

/** Queue names as users make them: a prefix per team, a number. */
function queueName(i: number): string {
  return `team-${i % 500}-queue-${i}`;
}

interface ControllerFigures {
  heapBytes: number;
  snapshotBytes: number;
  createEntryBytes: number;
  createApplyUs: number;
  getRouteBytes: number;
  sample: EntityRecord;
}

/** The controller at this size, run: its memory, snapshot, log entries and apply time. */
function controllerAt(inp: Inputs): ControllerFigures {
  const before = heapUsed();
  const sm = new ControllerStateMachine();
  let t = 1_700_000_000_000;
  const must = (cmd: ControllerCommand): void => {
    const r = sm.apply(cmd, t++);
    if (!r.ok) throw new Error(`${cmd.kind}: ${r.error}`);
  };
  for (let s = 1; s <= inp.sets; s++) must({ kind: 'registerSet', setId: s, group: s - 1, members: members(s) });
  let createEntryBytes = 0;
  const started = performance.now();
  for (let q = 0; q < inp.queues; q++) {
    const cmd: ControllerCommand = { kind: 'createEntity', type: 'queue', name: queueName(q) };
    createEntryBytes += encodeControllerCommand(cmd).length;
    must(cmd);
  }
  const createApplyUs = ((performance.now() - started) * 1000) / inp.queues;
  const heapBytes = heapUsed() - before;
  const snapshotBytes = sm.snapshot().length;
  const probe = { kind: 'getRoute', type: 'queue', name: queueName(inp.queues - 1) } as const;
  const answer = sm.read(probe);
  if (!answer.ok || answer.kind !== 'entity') throw new Error('getRoute failed');
  const getRouteBytes = encodeControllerQuery(probe).length + encodeControllerResult(answer).length;
  return { heapBytes, snapshotBytes, createEntryBytes: createEntryBytes / inp.queues, createApplyUs, getRouteBytes, sample: answer.entity };
}

/** A node's route cache at this size: the access layer's own RouteCache, holding every queue. */
function routeCacheBytes(inp: Inputs, sample: EntityRecord): number {
  const before = heapUsed();
  const cache = new RouteCache(inp.queues);
  for (let q = 0; q < inp.queues; q++) cache.set('queue', queueName(q), sample.shards, sample.version + q);
  const bytes = heapUsed() - before;
  if (cache.size !== inp.queues) throw new Error('cache lost entries');
  return bytes;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function main(): void {
  const inp = inputs();
  const c = controllerAt(inp);
  const cache = routeCacheBytes(inp, c.sample);
  const nodes = inp.sets * SET_MEMBERS;
  const perSet = inp.msgsPerSecond / inp.sets;
  const setsNeeded = Math.ceil(inp.msgsPerSecond / inp.setMsgsPerSecond);
  // A route change is learnt lazily: a node that still routes by the old entry is told "not
  // mine" by the old set and asks the controller once. At worst every node asks, once per change.
  const refreshReadsPerSecond = inp.routeChangesPerSecond * nodes;
  // Adding a set: it should end up with 1/(sets+1) of the backlog; moves from every other set
  // land on it, so its write rate bounds the time.
  const backlogBytes = inp.backlogMessages * inp.msgBytes;
  const movedBytes = backlogBytes / (inp.sets + 1);
  const movedQueues = Math.round(inp.queues / (inp.sets + 1));
  const rebalanceSeconds = movedBytes / (inp.setMsgsPerSecond * inp.msgBytes);
  // One TCP link per peer pair carries every group's frames: the node's own set, the controller's
  // voters, and, for forwarding, the leader of every other set (three links to each set once its
  // leadership has moved between all three members).
  const linksTypical = SET_MEMBERS - 1 + CONTROLLER_VOTERS + (inp.sets - 1);
  const linksMost = SET_MEMBERS - 1 + CONTROLLER_VOTERS + SET_MEMBERS * (inp.sets - 1);

  const rows: [string, string][] = [
    ['sets, nodes (3 per set)', `${inp.sets}, ${nodes}`],
    ['queues', `${inp.queues}`],
    ['cluster msg/s, per set', `${inp.msgsPerSecond}, ${Math.round(perSet)} (a set measured ${inp.setMsgsPerSecond}: ${(perSet / inp.setMsgsPerSecond).toFixed(2)} of it)`],
    ['sets needed for the cluster rate at the measured per-set rate', `${setsNeeded}`],
    ['controller state in memory (each voter)', mib(c.heapBytes)],
    ['controller snapshot', mib(c.snapshotBytes)],
    ['controller log entry per queue created', `${Math.round(c.createEntryBytes)} bytes`],
    ['controller apply per queue created (placement over every set)', `${c.createApplyUs.toFixed(1)} µs (${Math.round(1e6 / c.createApplyUs)} creates/s on one core)`],
    ['route cache per node (every queue)', `${mib(cache)} (${Math.round(cache / inp.queues)} bytes a route)`],
    ['route refresh: one getRoute (query + answer)', `${c.getRouteBytes} bytes`],
    [
      `route refresh at ${inp.routeChangesPerSecond} route changes/s, every node asking once`,
      `${refreshReadsPerSecond} reads/s, ${((refreshReadsPerSecond * c.getRouteBytes) / 1024).toFixed(0)} KiB/s at the controller leader`,
    ],
    ['backlog', `${inp.backlogMessages} messages, ${mib(backlogBytes)}`],
    ['adding a set: moved to it', `${movedQueues} queues, ${mib(movedBytes)}`],
    ['adding a set: time, at the new set\'s measured write rate', `${rebalanceSeconds.toFixed(0)} s`],
    ['controller entries for that rebalance (begin, advance, complete a move)', `${movedQueues * 3}`],
    ['peer links per node: typical (each other set\'s leader) / at most (all its members)', `${linksTypical} / ${linksMost}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

main();
