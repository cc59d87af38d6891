// A small, fully controlled cluster for the Raft unit tests: RaftNodes in one process, Ready
// contents "persisted" to MemoryStorage, messages moved only when a test says so (deliver,
// stabilize), links cut by hand, crashes that keep exactly what was persisted.

import assert from 'node:assert/strict';
import { RaftNode } from '../../src/raft/raft-node';
import type { EntryFetch, RaftConfig, RaftMessage, ReadState, Ready, SoftState } from '../../src/raft/types';
import { MemoryStorage } from './memory-storage';
import { Prng } from './prng';
import { commandPayload, TestStateMachine, type SmSnapshot } from './state-machine';

export interface ClusterOptions {
  ids: string[];
  electionTicks?: number;
  heartbeatTicks?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  maxInflightAppends?: number;
  maxBytesPerAppend?: number;
  maxUncommittedBytes?: number;
  maxWindowBytes?: number;
  seed?: number;
  /** Build the node (tests of deliberately broken variants pass a subclass). */
  makeNode?: (config: RaftConfig) => RaftNode;
}

export interface InFlight {
  msg: RaftMessage;
  /** For InstallSnapshot: the state-machine snapshot the driver ships with it. */
  snapshotData?: SmSnapshot;
}

export interface Member {
  id: string;
  storage: MemoryStorage;
  sm: TestStateMachine;
  raft: RaftNode | undefined;
  /** Snapshot data that arrived with InstallSnapshot messages, by index, kept until one is installed. */
  incomingSnapshots: Map<number, SmSnapshot>;
  readStates: ReadState[];
  droppedReads: string[];
  softStates: SoftState[];
  /** Fetches not answered yet (when autoFetch is off). */
  fetches: EntryFetch[];
  autoFetch: boolean;
  /** Every Ready this member produced (tests of the persistence contract look at them). */
  readies: Ready[];
}

export class Cluster {
  readonly members = new Map<string, Member>();
  network: InFlight[] = [];
  /** Every message handed to the network, in order. */
  readonly sent: RaftMessage[] = [];
  private readonly cut = new Set<string>();
  private readonly rng: Prng;
  private readonly opts: ClusterOptions;
  /** State machine safety: the chain hash every node reached at each applied index. */
  private readonly appliedAt = new Map<number, { hash: number; by: string }>();
  /** Applied histories that disagree (a committed entry changed). */
  readonly violations: string[] = [];
  /** Drop messages matching this (in addition to cut links). */
  dropIf: ((m: RaftMessage) => boolean) | undefined;

  constructor(opts: ClusterOptions) {
    this.opts = opts;
    this.rng = new Prng(opts.seed ?? 1);
    for (const id of opts.ids) this.addMember(id, opts.ids);
  }

  /** Start a member with an empty disk. A node joining an existing set passes voters = []. */
  addMember(id: string, voters: string[]): Member {
    const m: Member = {
      id,
      storage: new MemoryStorage(),
      sm: new TestStateMachine(),
      raft: undefined,
      incomingSnapshots: new Map(),
      readStates: [],
      droppedReads: [],
      softStates: [],
      fetches: [],
      autoFetch: true,
      readies: [],
    };
    this.members.set(id, m);
    m.raft = this.makeRaft(m, voters);
    return m;
  }

  private makeRaft(m: Member, voters: string[]): RaftNode {
    const o = this.opts;
    const jitter = this.rng.fork();
    const config: RaftConfig = {
      id: m.id,
      voters,
      electionTicks: o.electionTicks ?? 10,
      heartbeatTicks: o.heartbeatTicks ?? 1,
      random: () => jitter.next(),
      preVote: o.preVote ?? true,
      checkQuorum: o.checkQuorum ?? true,
      maxInflightAppends: o.maxInflightAppends ?? 64,
      maxBytesPerAppend: o.maxBytesPerAppend ?? 1024 * 1024,
      log: m.storage,
      restored: m.storage.restored(),
    };
    if (o.maxUncommittedBytes !== undefined) config.maxUncommittedBytes = o.maxUncommittedBytes;
    if (o.maxWindowBytes !== undefined) config.maxWindowBytes = o.maxWindowBytes;
    return o.makeNode ? o.makeNode(config) : new RaftNode(config);
  }

  member(id: string): Member {
    const m = this.members.get(id);
    assert.ok(m, `no member ${id}`);
    return m;
  }

  raft(id: string): RaftNode {
    const r = this.member(id).raft;
    assert.ok(r, `${id} is down`);
    return r;
  }

  live(): Member[] {
    return [...this.members.values()].filter((m) => m.raft !== undefined);
  }

  // ---- driving ----------------------------------------------------------------------------------

  tick(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.raft(id).tick();
      this.pump();
    }
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const m of this.live()) m.raft!.tick();
      this.pump();
    }
  }

  /** Run every live node's Ready loop until none has anything to do. */
  pump(): void {
    for (let round = 0; round < 1000; round++) {
      let any = false;
      for (const m of this.live()) {
        while (m.raft!.hasReady()) {
          this.handleReady(m, m.raft!.ready());
          any = true;
        }
      }
      if (!any) return;
    }
    assert.fail('pump did not settle');
  }

  /** The driver's side of one Ready, in the contract's order. */
  handleReady(m: Member, rd: Ready): void {
    const raft = m.raft!;
    m.readies.push(rd);
    if (rd.softState) m.softStates.push(rd.softState);
    for (const msg of rd.messages) this.send(m, msg);
    let data: SmSnapshot | undefined;
    if (rd.snapshotToInstall) {
      data = m.incomingSnapshots.get(rd.snapshotToInstall.index);
      assert.ok(data, 'no data for the snapshot to install');
      m.sm.restore(data);
      m.incomingSnapshots.clear();
    }
    m.storage.persist(rd, data);
    if (rd.snapshotToInstall) raft.snapshotInstalled(rd.snapshotToInstall);
    for (const e of rd.committedEntries) {
      m.sm.apply(e);
      const seen = this.appliedAt.get(e.index);
      if (!seen) this.appliedAt.set(e.index, { hash: m.sm.hash, by: m.id });
      else if (seen.hash !== m.sm.hash) this.violations.push(`${m.id} applied a different entry ${e.index} than ${seen.by}`);
    }
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) raft.appliedTo(last.index);
    m.readStates.push(...rd.readStates);
    m.droppedReads.push(...rd.droppedReads);
    raft.advance(rd);
    for (const f of rd.entryFetches) {
      if (m.autoFetch) raft.entriesLoaded(m.storage.load(f.from, f.to, 1 << 30));
      else m.fetches.push(f);
    }
  }

  private send(from: Member, msg: RaftMessage): void {
    this.sent.push(msg);
    const f: InFlight = { msg };
    if (msg.type === 'InstallSnapshot') {
      const snap = from.storage.snapshot;
      assert.ok(snap && snap.meta.index === msg.snapshot.index, 'InstallSnapshot for a snapshot the driver does not hold');
      f.snapshotData = snap.data;
    }
    this.network.push(f);
  }

  /** Deliver every message now in flight (dropping those on cut links), then pump. Returns how many arrived. */
  deliver(filter: (m: RaftMessage) => boolean = () => true): number {
    const now = this.network.filter((f) => filter(f.msg));
    this.network = this.network.filter((f) => !filter(f.msg));
    let delivered = 0;
    for (const f of now) {
      const { msg } = f;
      const to = this.members.get(msg.to);
      const dropped = !to?.raft || this.cut.has(`${msg.from}->${msg.to}`) || (this.dropIf?.(msg) ?? false);
      const sender = this.members.get(msg.from)?.raft;
      if (dropped) {
        if (msg.type === 'InstallSnapshot') sender?.reportSnapshot(msg.to, 'failed');
        continue;
      }
      if (f.snapshotData) to.incomingSnapshots.set(f.snapshotData.index, f.snapshotData);
      to.raft!.step(msg);
      if (msg.type === 'InstallSnapshot') sender?.reportSnapshot(msg.to, 'finished');
      delivered++;
    }
    this.pump();
    return delivered;
  }

  /** Deliver until the network is quiet. */
  stabilize(maxRounds = 10_000): void {
    this.pump();
    for (let i = 0; i < maxRounds && this.network.length > 0; i++) this.deliver();
    assert.equal(this.network.length, 0, 'network did not settle');
  }

  /** Make `id` leader: time it out (others stay silent) and run the election. */
  elect(id: string): void {
    for (let i = 0; i < 200 && this.raft(id).status().role !== 'leader'; i++) {
      this.tick(id);
      this.stabilize();
    }
    assert.equal(this.raft(id).status().role, 'leader', `${id} did not become leader`);
    this.stabilize();
  }

  leader(): string | undefined {
    let best: { id: string; term: number } | undefined;
    for (const m of this.live()) {
      const s = m.raft!.status();
      if (s.role === 'leader' && (!best || s.term > best.term)) best = { id: m.id, term: s.term };
    }
    return best?.id;
  }

  propose(id: string, text: string): ReturnType<RaftNode['propose']> {
    const r = this.raft(id).propose({ kind: 'command', timeMs: 0, metaLen: 0, payload: commandPayload(text) });
    this.pump();
    return r;
  }

  /** Snapshot the state machine at what it applied and compact the log up to there. */
  snapshot(id: string): void {
    const m = this.member(id);
    const meta = m.raft!.snapshotMetaAt(m.sm.index);
    m.raft!.compact(meta); // before the LogView forgets the entries
    m.storage.compact(meta, m.sm.snapshot());
  }

  // ---- faults -----------------------------------------------------------------------------------

  /** Crash: everything not persisted is lost (this harness persists whole Readies, synchronously). */
  crash(id: string): void {
    const m = this.member(id);
    m.raft = undefined;
    m.incomingSnapshots.clear();
    m.sm = new TestStateMachine();
  }

  restart(id: string, voters: string[] = this.opts.ids): void {
    const m = this.member(id);
    assert.equal(m.raft, undefined, `${id} is running`);
    if (m.storage.snapshot) m.sm.restore(m.storage.snapshot.data);
    m.raft = this.makeRaft(m, voters);
    this.pump();
  }

  isolate(id: string): void {
    for (const other of this.members.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  cutLink(from: string, to: string): void {
    this.cut.add(`${from}->${to}`);
  }

  heal(): void {
    this.cut.clear();
    this.dropIf = undefined;
  }

  applied(id: string): string[] {
    return this.member(id).sm.commands;
  }
}
