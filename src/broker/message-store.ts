// A queue's messages as struct-of-arrays columns, indexed by seq (dense, assigned in enqueue
// order). Seqs are grouped in chunks of CHUNK_SLOTS; each chunk is one ArrayBuffer holding every
// column, so a snapshot copies it in one go. A chunk starts small and doubles up to CHUNK_SLOTS
// (an idle queue costs little), and is dropped once it is full and none of its messages remain.
// Per message: 5 × f64 + 5 × u32 + 2 × u8 = 62 bytes.

/** Message states (the `state` column). */
export const GONE = 0; // never assigned, deleted without rewind, expired, moved, quarantined
export const VISIBLE = 1;
export const INFLIGHT = 2;
export const DELAYED = 3;
export const REWIND = 4; // deleted, kept for rewind until retention runs out

/** batchPos bits (see Chunk.batchPos). */
export const BATCH_POS_MASK = 0x0f;
export const ENVELOPED = 0x80;

export const CHUNK_SLOTS = 4096;
const CHUNK_MIN_SLOTS = 64;
export const BYTES_PER_SLOT = 5 * 8 + 5 * 4 + 2;
/** The slot size of snapshots before bodies could be relocated (no bodyEntry column; snapshot.ts converts). */
export const BYTES_PER_SLOT_V2 = 4 * 8 + 5 * 4 + 2;

/** A snapshot capture holding chunks (snapshot-capture.ts): told before a held chunk changes. */
export interface ChunkKeeper {
  keep(c: Chunk): void;
}

export class Chunk {
  readonly buffer: ArrayBuffer;
  /** The capture holding this chunk's current contents, until it copied or emitted them. */
  keeper: ChunkKeeper | undefined = undefined;
  /** Log entry that enqueued the message (its msgId is derived from it, so it never changes). */
  readonly entryIndex: Float64Array;
  /**
   * Log entry holding the body now: the enqueuing entry, or a later `relocateBodies` entry that
   * copied the body forward so the old segment could be deleted (compaction).
   */
  readonly bodyEntry: Float64Array;
  readonly enqueueMs: Float64Array;
  /** In flight: next visible time. Delayed: due time. Otherwise meaningless. */
  readonly deadlineMs: Float64Array;
  /** -1 until the first receive. */
  readonly firstDequeueMs: Float64Array;
  readonly bodyOffset: Uint32Array;
  readonly bodyLength: Uint32Array;
  readonly bodyCrc: Uint32Array;
  /** Token of the latest receipt handle. */
  readonly token: Uint32Array;
  readonly dequeueCount: Uint32Array;
  readonly state: Uint8Array;
  /**
   * Low 4 bits: position in its send batch (0..15): msgId = entryIndex * 16 + position. Bit 7
   * (ENVELOPED): the body is a message envelope (a send with message attributes). Snapshots from
   * before envelopes existed have the bit clear, as they should.
   */
  readonly batchPos: Uint8Array;
  /** Messages in this chunk that are not GONE. */
  live = 0;

  constructor(
    readonly firstSeq: number,
    readonly capacity: number,
    buffer?: ArrayBuffer,
  ) {
    this.buffer = buffer ?? new ArrayBuffer(capacity * BYTES_PER_SLOT);
    if (this.buffer.byteLength !== capacity * BYTES_PER_SLOT) throw new Error('chunk buffer size mismatch');
    const b = this.buffer;
    const n = capacity;
    this.entryIndex = new Float64Array(b, 0, n);
    this.enqueueMs = new Float64Array(b, 8 * n, n);
    this.deadlineMs = new Float64Array(b, 16 * n, n);
    this.firstDequeueMs = new Float64Array(b, 24 * n, n);
    this.bodyEntry = new Float64Array(b, 32 * n, n);
    this.bodyOffset = new Uint32Array(b, 40 * n, n);
    this.bodyLength = new Uint32Array(b, 44 * n, n);
    this.bodyCrc = new Uint32Array(b, 48 * n, n);
    this.token = new Uint32Array(b, 52 * n, n);
    this.dequeueCount = new Uint32Array(b, 56 * n, n);
    this.state = new Uint8Array(b, 60 * n, n);
    this.batchPos = new Uint8Array(b, 61 * n, n);
  }

  /**
   * A chunk from a snapshot written before bodies could be relocated: the same columns in the same
   * order without bodyEntry, which starts out as entryIndex (every body still in its own entry).
   */
  static fromV2Layout(firstSeq: number, capacity: number, bytes: Uint8Array): Chunk {
    const n = capacity;
    if (bytes.length !== n * BYTES_PER_SLOT_V2) throw new Error('chunk buffer size mismatch');
    const c = new Chunk(firstSeq, capacity);
    const out = new Uint8Array(c.buffer);
    out.set(bytes.subarray(0, 32 * n), 0); // the four f64 columns
    out.set(bytes.subarray(32 * n), 40 * n); // the u32 and u8 columns, after bodyEntry
    c.bodyEntry.set(c.entryIndex);
    return c;
  }

  /** The columns of each width, in layout order (the snapshot's sparse chunks write them so). */
  f64Columns(): Float64Array[] {
    return [this.entryIndex, this.enqueueMs, this.deadlineMs, this.firstDequeueMs, this.bodyEntry];
  }

  u32Columns(): Uint32Array[] {
    return [this.bodyOffset, this.bodyLength, this.bodyCrc, this.token, this.dequeueCount];
  }

  u8Columns(): Uint8Array[] {
    return [this.state, this.batchPos];
  }

  /** A copy with twice the capacity (columns are laid out by capacity, so each is copied). */
  grown(): Chunk {
    const c = new Chunk(this.firstSeq, Math.min(CHUNK_SLOTS, this.capacity * 2));
    c.entryIndex.set(this.entryIndex);
    c.enqueueMs.set(this.enqueueMs);
    c.deadlineMs.set(this.deadlineMs);
    c.firstDequeueMs.set(this.firstDequeueMs);
    c.bodyEntry.set(this.bodyEntry);
    c.bodyOffset.set(this.bodyOffset);
    c.bodyLength.set(this.bodyLength);
    c.bodyCrc.set(this.bodyCrc);
    c.token.set(this.token);
    c.dequeueCount.set(this.dequeueCount);
    c.state.set(this.state);
    c.batchPos.set(this.batchPos);
    c.live = this.live;
    return c;
  }
}

export class MessageStore {
  /** chunks[k] holds seqs from (chunkBase + k) * CHUNK_SLOTS; undefined once dropped. */
  chunks: (Chunk | undefined)[] = [];
  chunkBase = 0;
  /** Next seq to assign. */
  nextSeq = 0;
  /** Every seq below headSeq is GONE (a lower bound, advanced by `advanceHead`). */
  headSeq = 0;

  chunkOf(seq: number): Chunk | undefined {
    return this.chunks[Math.floor(seq / CHUNK_SLOTS) - this.chunkBase];
  }

  state(seq: number): number {
    if (seq < 0 || seq >= this.nextSeq) return GONE;
    const c = this.chunkOf(seq);
    return c === undefined ? GONE : c.state[seq - c.firstSeq]!;
  }

  /**
   * Every write to a chunk's columns goes through here first: a snapshot capture still holding
   * the chunk copies it before it changes.
   */
  writable(c: Chunk): Chunk {
    if (c.keeper !== undefined) c.keeper.keep(c);
    return c;
  }

  /** Assigns the next seq with state GONE and live not yet counted; returns its chunk. */
  allocate(): Chunk {
    const seq = this.nextSeq;
    const chunkNo = Math.floor(seq / CHUNK_SLOTS);
    if (this.chunks.length === 0) this.chunkBase = chunkNo;
    const k = chunkNo - this.chunkBase;
    let c = this.chunks[k];
    if (c === undefined) {
      c = new Chunk(chunkNo * CHUNK_SLOTS, CHUNK_MIN_SLOTS);
      this.chunks[k] = c;
    } else if (seq - c.firstSeq >= c.capacity) {
      c = c.grown();
      this.chunks[k] = c;
    }
    this.nextSeq = seq + 1;
    return this.writable(c);
  }

  /** Called when a message of `c` becomes GONE. */
  released(c: Chunk): void {
    c.live--;
    if (c.live === 0 && c.firstSeq + CHUNK_SLOTS <= this.nextSeq) this.drop(c);
  }

  private drop(c: Chunk): void {
    this.chunks[Math.floor(c.firstSeq / CHUNK_SLOTS) - this.chunkBase] = undefined;
    let lead = 0;
    while (lead < this.chunks.length && this.chunks[lead] === undefined) lead++;
    if (lead > 0) {
      this.chunks.splice(0, lead);
      this.chunkBase += lead;
    }
    while (this.chunks.length > 0 && this.chunks[this.chunks.length - 1] === undefined) this.chunks.pop();
  }

  /** The first seq ≥ from that is not GONE, or nextSeq. Skips dropped chunks whole. */
  firstLiveFrom(from: number): number {
    let seq = Math.max(from, 0);
    while (seq < this.nextSeq) {
      const c = this.chunkOf(seq);
      if (c === undefined) {
        seq = (Math.floor(seq / CHUNK_SLOTS) + 1) * CHUNK_SLOTS;
        continue;
      }
      const end = Math.min(c.firstSeq + c.capacity, this.nextSeq);
      for (let i = seq - c.firstSeq; seq < end; i++, seq++) if (c.state[i] !== GONE) return seq;
      if (seq < this.nextSeq) seq = c.firstSeq + CHUNK_SLOTS;
    }
    return this.nextSeq;
  }

  advanceHead(): number {
    this.headSeq = this.firstLiveFrom(this.headSeq);
    return this.headSeq;
  }

  /**
   * Calls fn(chunk, slot, seq) for every assigned slot in [from, nextSeq), in seq order. fn may
   * release messages (chunks dropped meanwhile are still visited; their slots are all GONE).
   */
  forEachSlot(from: number, fn: (c: Chunk, i: number, seq: number) => void): void {
    for (const c of [...this.chunks]) {
      if (c === undefined) continue;
      const end = Math.min(c.capacity, this.nextSeq - c.firstSeq);
      for (let i = Math.max(0, from - c.firstSeq); i < end; i++) fn(c, i, c.firstSeq + i);
    }
  }

  bytes(): number {
    let n = this.chunks.length * 8;
    for (const c of this.chunks) if (c !== undefined) n += c.buffer.byteLength;
    return n;
  }
}
