// The interpreter of the scripted Raft interaction transcripts (test/raft-scripts/data/*.txt):
// a small command language that drives RaftNode instances in one process, as etcd's raft
// "interaction" tests do. Nothing happens unless a command says so: ticks, Ready handling and
// message delivery are each explicit (or bundled by `stabilize`), and the only randomness (the
// election jitter) comes from a seeded generator, so a script always produces the same transcript.
//
// Commands (node ids are numbers; `x10` repeats; key=(a,b) is a list):
//   add-nodes N voters=(1,2,3) [election=10 heartbeat=5 prevote=true checkquorum=true window=BYTES
//             inflight=64 maxbytes=BYTES]   start N nodes with empty disks (voters=() for a joiner)
//   tick ID... [xN]              tick the nodes N times; prints role/term/leader changes
//   campaign ID                  tick ID until its election timer fires (a pre-vote or a vote)
//   propose ID DATA              propose a command entry
//   add-voter ID NEW | remove-voter ID OLD      propose a single-server config change on ID
//   read-index ID REQ            start a ReadIndex request
//   transfer-leader ID to=NEW    ask leader ID to hand over
//   process-ready ID...          take each node's Ready, persist/apply/send it, advance
//   deliver-msgs ID...           step every in-flight message addressed to the nodes
//   stabilize                    process Readies and deliver messages until nothing moves
//   partition A... | B... [| ...]    cut every link between the groups; `heal` restores all links
//   drop A->B [C->D ...]         cut one direction of these links until `heal`
//   status ID | raft-log ID | applied ID     inspect a node (core status, its disk, its state machine)
//   crash ID | restart ID        lose everything not persisted / start again from the node's disk
//   compact ID                   snapshot ID's state machine at what it applied and compact the log
//   log-unavailable ID below=N   ID's disk answers 'unavailable' below N (the core must fetch)
//   fetch-mode ID auto|manual    auto: answer entry fetches in the same Ready; manual: `load-entries ID`

import { RaftNode } from '../../src/raft/raft-node';
import type { EntryFetch, RaftConfig, RaftMessage, Ready } from '../../src/raft/types';
import { MemoryStorage } from '../sim/memory-storage';
import { Prng } from '../sim/prng';
import { commandPayload, TestStateMachine, type SmSnapshot } from '../sim/state-machine';
import { byId, ids, renderEntry, renderHardState, renderMessage, renderReady, renderSnapshot, renderStatus } from './render';

interface ScriptNode {
  id: string;
  raft: RaftNode;
  /** How to build the node again on restart (with the disk's restored state). */
  config: RaftConfig;
  /** Crashed: receives nothing and does nothing until restarted. */
  down: boolean;
  storage: MemoryStorage;
  sm: TestStateMachine;
  electionTicks: number;
  /** Snapshot data that arrived with InstallSnapshot, by index, until the core asks to install it. */
  incomingSnapshots: Map<number, SmSnapshot>;
  fetchMode: 'auto' | 'manual';
  pendingFetches: EntryFetch[];
}

interface InFlight {
  msg: RaftMessage;
  /** For InstallSnapshot: the state-machine snapshot the driver ships with it. */
  snapshotData?: SmSnapshot;
}

export class ScriptError extends Error {}

/** A command failed part-way: what it printed before the failure is kept in the transcript. */
class PartialOutput extends Error {
  constructor(
    readonly lines: string[],
    readonly failure: unknown,
  ) {
    super('partial output');
  }
}

/** Makes the nodes; the failure-injection check of the golden test swaps in a broken core here. */
export type NodeFactory = (config: RaftConfig) => RaftNode;

export class RaftScriptEnv {
  private readonly nodes = new Map<string, ScriptNode>();
  /** Every message sent and not yet delivered, in send order. */
  private network: InFlight[] = [];
  private readonly cut = new Set<string>();
  private readonly rng: Prng;

  constructor(
    seed = 1,
    private readonly makeNode: NodeFactory = (c) => new RaftNode(c),
  ) {
    this.rng = new Prng(seed);
  }

  /** Run one command line; returns its output lines (never empty). Failures are output, not exceptions. */
  run(line: string): string[] {
    let out: string[];
    try {
      out = this.dispatch(parseArgs(line));
    } catch (e) {
      out = e instanceof PartialOutput ? [...e.lines, errorLine(e.failure)] : [errorLine(e)];
    }
    return out.length === 0 ? ['ok'] : out;
  }

  private dispatch(a: Args): string[] {
    switch (a.cmd) {
      case 'add-nodes':
        return this.addNodes(a);
      case 'tick':
        return this.tick(a.pos, a.times);
      case 'campaign':
        return this.campaign(one(a));
      case 'propose': {
        const [id, data] = two(a);
        return [result(this.node(id).raft.propose({ kind: 'command', timeMs: 0, metaLen: 0, payload: commandPayload(data) }))];
      }
      case 'add-voter': {
        const [id, node] = two(a);
        return [result(this.node(id).raft.proposeConfigChange({ type: 'addVoter', node }))];
      }
      case 'remove-voter': {
        const [id, node] = two(a);
        return [result(this.node(id).raft.proposeConfigChange({ type: 'removeVoter', node }))];
      }
      case 'read-index': {
        const [id, req] = two(a);
        return [result(this.node(id).raft.readIndex(req))];
      }
      case 'transfer-leader':
        return [result(this.node(one(a)).raft.transferLeadership(required(a, 'to')))];
      case 'process-ready':
        return this.nodeList(a).flatMap((n) => this.processReady(n));
      case 'deliver-msgs':
        return this.nodeList(a, true).flatMap((n) => this.deliver(n));
      case 'stabilize':
        return this.stabilize();
      case 'partition':
        return this.partition(a.pos);
      case 'heal':
        this.cut.clear();
        return ['all links restored'];
      case 'drop': {
        if (a.pos.length === 0) throw new ScriptError('drop wants links A->B');
        for (const link of a.pos) {
          if (!/^\d+->\d+$/.test(link)) throw new ScriptError(`drop wants A->B, got ${link}`);
          this.cut.add(link);
        }
        return [`cut ${a.pos.join(' ')}`];
      }
      case 'crash':
        return this.crash(this.node(one(a)));
      case 'restart':
        return this.restart(this.node(one(a), true));
      case 'status':
        return renderStatus(this.node(one(a)).raft.status());
      case 'raft-log':
        return this.raftLog(this.node(one(a), true));
      case 'applied': {
        const sm = this.node(one(a), true).sm;
        return [`applied=${sm.index} commands=${ids(sm.commands)}`];
      }
      case 'compact':
        return this.compact(this.node(one(a)));
      case 'log-unavailable': {
        const n = this.node(one(a));
        n.storage.unavailableBelow = Number(required(a, 'below'));
        return [`${n.id}: disk reads below ${n.storage.unavailableBelow} must be fetched`];
      }
      case 'fetch-mode': {
        const [id, mode] = two(a);
        if (mode !== 'auto' && mode !== 'manual') throw new ScriptError(`fetch-mode is auto or manual, got ${mode}`);
        this.node(id).fetchMode = mode;
        return [`${id}: fetch-mode ${mode}`];
      }
      case 'load-entries':
        return this.loadEntries(this.node(one(a)));
      default:
        throw new ScriptError(`unknown command ${a.cmd}`);
    }
  }

  // ---- nodes --------------------------------------------------------------------------------------

  private addNodes(a: Args): string[] {
    const count = Number(a.pos[0]);
    if (!Number.isInteger(count) || count < 1) throw new ScriptError('add-nodes wants a count');
    const voters = list(required(a, 'voters'));
    const electionTicks = Number(a.kv.get('election') ?? 10);
    const heartbeatTicks = Number(a.kv.get('heartbeat') ?? 5);
    const preVote = (a.kv.get('prevote') ?? 'true') === 'true';
    const checkQuorum = (a.kv.get('checkquorum') ?? 'true') === 'true';
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = String(this.nodes.size + 1);
      const storage = new MemoryStorage();
      const jitter = this.rng.fork();
      const config: RaftConfig = {
        id,
        voters,
        electionTicks,
        heartbeatTicks,
        random: () => jitter.next(),
        preVote,
        checkQuorum,
        maxInflightAppends: Number(a.kv.get('inflight') ?? 64),
        maxBytesPerAppend: Number(a.kv.get('maxbytes') ?? 1024 * 1024),
        log: storage,
        restored: storage.restored(),
      };
      const window = a.kv.get('window');
      if (window !== undefined) config.maxWindowBytes = Number(window);
      const node: ScriptNode = {
        id,
        raft: this.makeNode(config),
        config,
        down: false,
        storage,
        sm: new TestStateMachine(),
        electionTicks,
        incomingSnapshots: new Map(),
        fetchMode: 'auto',
        pendingFetches: [],
      };
      this.nodes.set(id, node);
      out.push(
        `${id}: started voters=${ids(voters)} election=${electionTicks} heartbeat=${heartbeatTicks} prevote=${preVote} checkquorum=${checkQuorum}`,
      );
    }
    return out;
  }

  private node(id: string, allowDown = false): ScriptNode {
    const n = this.nodes.get(id);
    if (!n) throw new ScriptError(`no node ${id}`);
    if (n.down && !allowDown) throw new ScriptError(`${id} is down`);
    return n;
  }

  /** Crash: what the driver persisted stays; everything in memory (and in its state machine) is lost. */
  private crash(n: ScriptNode): string[] {
    n.down = true;
    n.sm = new TestStateMachine();
    n.incomingSnapshots.clear();
    n.pendingFetches = [];
    return [`${n.id} crashed`];
  }

  private restart(n: ScriptNode): string[] {
    if (!n.down) throw new ScriptError(`${n.id} is running`);
    if (n.storage.snapshot) n.sm.restore(n.storage.snapshot.data);
    n.raft = this.makeNode({ ...n.config, restored: n.storage.restored() });
    n.down = false;
    const s = n.raft.status();
    return [`${n.id} restarted from its disk: term=${s.term} vote=${s.votedFor ?? 'none'} commit=${s.commitIndex} last=${s.lastIndex}`];
  }

  private nodeList(a: Args, allowDown = false): ScriptNode[] {
    if (a.pos.length === 0) throw new ScriptError(`${a.cmd} wants node ids`);
    return a.pos.map((id) => this.node(id, allowDown));
  }

  private sortedNodes(): ScriptNode[] {
    return [...this.nodes.keys()].sort(byId).map((id) => this.node(id, true));
  }

  // ---- time ---------------------------------------------------------------------------------------

  private tick(idList: string[], times: number): string[] {
    if (idList.length === 0) throw new ScriptError('tick wants node ids');
    const nodes = idList.map((id) => this.node(id));
    const out: string[] = [];
    for (let t = 1; t <= times; t++) {
      for (const n of nodes) {
        const before = roleLine(n.raft);
        n.raft.tick();
        const after = roleLine(n.raft);
        if (after !== before) out.push(`tick ${t}: ${n.id} ${after}`);
      }
    }
    return out;
  }

  /**
   * Tick until the election timer fires. That shows as a change of role or term, or, for a
   * pre-candidate whose round was lost, as a new round of requests (a Ready appears).
   */
  private campaign(id: string): string[] {
    const n = this.node(id);
    const start = n.raft.status();
    if (start.role === 'leader') throw new ScriptError(`${id} is the leader`);
    if (n.raft.hasReady()) throw new ScriptError(`${id} has a Ready to process first`);
    // The randomized timeout is below 2 * electionTicks.
    for (let t = 1; t <= 2 * n.electionTicks; t++) {
      n.raft.tick();
      const s = n.raft.status();
      if (s.role !== start.role || s.term !== start.term || n.raft.hasReady()) return [`${id} timed out after ${t} ticks: ${roleLine(n.raft)}`];
    }
    throw new ScriptError(`${id} did not time out within ${2 * n.electionTicks} ticks`);
  }

  // ---- the Ready loop and the network -----------------------------------------------------------------

  /** The driver's side of one Ready, in the contract's order (as test/sim/harness.ts does it). */
  private processReady(n: ScriptNode): string[] {
    const out = [`> ${n.id} handling Ready`];
    if (!n.raft.hasReady()) return [...out, '  (nothing to do)'];
    const rd: Ready = n.raft.ready();
    out.push(...renderReady(rd).map((l) => `  ${l}`));
    for (const msg of rd.messages) this.send(n, msg);
    let data: SmSnapshot | undefined;
    if (rd.snapshotToInstall) {
      data = n.incomingSnapshots.get(rd.snapshotToInstall.index);
      if (!data) throw new ScriptError('no data for the snapshot to install');
      n.sm.restore(data);
      n.incomingSnapshots.clear();
    }
    n.storage.persist(rd, data);
    if (rd.snapshotToInstall) n.raft.snapshotInstalled(rd.snapshotToInstall);
    for (const e of rd.committedEntries) n.sm.apply(e);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) n.raft.appliedTo(last.index);
    n.raft.advance(rd);
    n.pendingFetches.push(...rd.entryFetches);
    if (n.fetchMode === 'auto') out.push(...this.loadEntries(n).map((l) => `  ${l}`));
    return out;
  }

  /** Answer the node's outstanding entry fetches from its disk (entriesLoaded). */
  private loadEntries(n: ScriptNode): string[] {
    const out: string[] = [];
    for (const f of n.pendingFetches) {
      const got = n.storage.load(f.from, f.to, 1 << 30);
      const span = got.length === 0 ? 'no entries' : `entries ${got[0]!.index}..${got[got.length - 1]!.index}`;
      out.push(`fetch ${f.from}..${f.to} answered: entriesLoaded(${span})`);
      n.raft.entriesLoaded(got);
    }
    n.pendingFetches = [];
    return out;
  }

  private send(from: ScriptNode, msg: RaftMessage): void {
    const f: InFlight = { msg };
    if (msg.type === 'InstallSnapshot') {
      const snap = from.storage.snapshot;
      if (!snap || snap.meta.index !== msg.snapshot.index) throw new ScriptError('InstallSnapshot for a snapshot the driver does not hold');
      f.snapshotData = snap.data;
    }
    this.network.push(f);
  }

  private deliver(n: ScriptNode): string[] {
    const now = this.network.filter((f) => f.msg.to === n.id);
    this.network = this.network.filter((f) => f.msg.to !== n.id);
    const out = [`> ${n.id} receiving messages`];
    if (now.length === 0) return [...out, '  (none)'];
    for (const f of now) {
      const { msg } = f;
      const from = this.nodes.get(msg.from);
      const sender = from && !from.down ? from.raft : undefined;
      const lost = n.down ? 'node down' : this.cut.has(`${msg.from}->${msg.to}`) ? 'link cut' : undefined;
      if (lost !== undefined) {
        out.push(`  ${renderMessage(msg)} DROPPED (${lost})`);
        if (msg.type === 'InstallSnapshot') {
          sender?.reportSnapshot(msg.to, 'failed');
          out.push(`  ${msg.from} told: snapshot to ${msg.to} failed`);
        }
        continue;
      }
      out.push(`  ${renderMessage(msg)}`);
      if (f.snapshotData) n.incomingSnapshots.set(f.snapshotData.index, f.snapshotData);
      n.raft.step(msg);
      if (msg.type === 'InstallSnapshot') {
        sender?.reportSnapshot(msg.to, 'finished');
        out.push(`  ${msg.from} told: snapshot to ${msg.to} finished`);
      }
    }
    return out;
  }

  /** etcd's stabilize: every node handles its Ready, then every node receives its messages; repeat. */
  private stabilize(): string[] {
    const out: string[] = [];
    try {
      this.stabilizeInto(out);
    } catch (e) {
      throw new PartialOutput(out, e);
    }
    return out;
  }

  private stabilizeInto(out: string[]): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (const n of this.sortedNodes()) {
        if (!n.down && n.raft.hasReady()) {
          out.push(...this.processReady(n));
          moved = true;
        }
      }
      for (const n of this.sortedNodes()) {
        if (this.network.some((f) => f.msg.to === n.id)) {
          out.push(...this.deliver(n));
          moved = true;
        }
      }
      if (!moved) return;
    }
    throw new ScriptError('stabilize did not settle in 1000 rounds');
  }

  private partition(args: string[]): string[] {
    const groups: string[][] = [[]];
    for (const t of args) {
      if (t === '|') groups.push([]);
      else groups[groups.length - 1]!.push(this.node(t).id);
    }
    if (groups.length < 2 || groups.some((g) => g.length === 0)) throw new ScriptError('partition wants groups separated by |');
    for (const g of groups) {
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) this.cut.add(`${a}->${b}`);
      }
    }
    return [`partitioned ${groups.map(ids).join(' | ')}`];
  }

  // ---- disks ----------------------------------------------------------------------------------------

  private raftLog(n: ScriptNode): string[] {
    const s = n.storage;
    const out = [`hard state: ${renderHardState(s.hardState)}`];
    if (s.snapshot) out.push(`snapshot: ${renderSnapshot(s.snapshot.meta)}`);
    const entries = s.all();
    if (entries.length === 0) out.push('(no entries)');
    for (const e of entries) out.push(renderEntry(e));
    return out;
  }

  private compact(n: ScriptNode): string[] {
    const meta = n.raft.snapshotMetaAt(n.sm.index);
    n.raft.compact(meta); // before the LogView forgets the entries
    n.storage.compact(meta, n.sm.snapshot());
    return [`${n.id}: snapshot ${renderSnapshot(meta)}, log compacted`];
  }
}

function errorLine(e: unknown): string {
  if (!(e instanceof Error)) return `error: ${String(e)}`;
  return `error: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`;
}

function roleLine(r: RaftNode): string {
  const s = r.status();
  return `${s.role} term=${s.term} leader=${s.leader ?? 'none'}`;
}

function result(r: { ok: true; index?: number; term?: number } | { ok: false; reason: string; leaderHint?: string; detail?: string }): string {
  if (r.ok) return r.index !== undefined ? `ok index=${r.index} term=${r.term}` : 'ok';
  const hint = r.leaderHint !== undefined ? ` leader=${r.leaderHint}` : '';
  const detail = r.detail !== undefined ? ` (${r.detail})` : '';
  return `rejected: ${r.reason}${hint}${detail}`;
}

// ---- command lines -----------------------------------------------------------------------------------

interface Args {
  cmd: string;
  pos: string[];
  kv: Map<string, string>;
  /** From a trailing `xN`; 1 without one. */
  times: number;
}

export function parseArgs(line: string): Args {
  const tokens = line.trim().match(/[^\s=]+=\([^)]*\)|\S+/g) ?? [];
  const [cmd, ...rest] = tokens;
  if (cmd === undefined) throw new ScriptError('empty command');
  const a: Args = { cmd, pos: [], kv: new Map(), times: 1 };
  for (const t of rest) {
    const eq = t.indexOf('=');
    if (/^x\d+$/.test(t)) a.times = Number(t.slice(1));
    else if (eq > 0) a.kv.set(t.slice(0, eq), t.slice(eq + 1));
    else a.pos.push(t);
  }
  return a;
}

function one(a: Args): string {
  if (a.pos.length !== 1) throw new ScriptError(`${a.cmd} wants one node id`);
  return a.pos[0]!;
}

function two(a: Args): [string, string] {
  if (a.pos.length !== 2) throw new ScriptError(`${a.cmd} wants two arguments`);
  return [a.pos[0]!, a.pos[1]!];
}

function required(a: Args, key: string): string {
  const v = a.kv.get(key);
  if (v === undefined) throw new ScriptError(`${a.cmd} wants ${key}=`);
  return v;
}

function list(v: string): string[] {
  const m = /^\((.*)\)$/.exec(v);
  if (!m) throw new ScriptError(`expected a list like (1,2,3), got ${v}`);
  return m[1]!.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}
