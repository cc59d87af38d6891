// Receipt handles: `${queueNumber}-${seq}-${dequeueCount}-${token}`, all decimal. queueNumber is
// never reused, so handles of a deleted queue fail on its same-named successor; dequeueCount grows
// with every receive, so a superseded handle never matches again; token (32 bits mixed from the
// leader's random seed) makes handles unguessable. Matches RECEIPT_HANDLE_RE (spec §4).

export interface ParsedHandle {
  queueNumber: number;
  seq: number;
  dequeueCount: number;
  token: number;
}

export function formatReceiptHandle(queueNumber: number, seq: number, dequeueCount: number, token: number): string {
  return `${queueNumber}-${seq}-${dequeueCount}-${token}`;
}

const CANONICAL_UINT = /^(0|[1-9][0-9]{0,15})$/;

function field(s: string | undefined): number {
  if (s === undefined || !CANONICAL_UINT.test(s)) return -1;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : -1;
}

/** undefined unless the handle has exactly our shape (canonical decimals, no leading zeros). */
export function parseReceiptHandle(handle: string): ParsedHandle | undefined {
  if (handle.length > 80) return undefined;
  const parts = handle.split('-');
  if (parts.length !== 4) return undefined;
  const queueNumber = field(parts[0]);
  const seq = field(parts[1]);
  const dequeueCount = field(parts[2]);
  const token = field(parts[3]);
  if (queueNumber < 0 || seq < 0 || dequeueCount < 0 || token < 0 || token > 0xffff_ffff) return undefined;
  return { queueNumber, seq, dequeueCount, token };
}

function mixIn(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3-style 32-bit mix of the receive's seed with the message's place in it. */
export function receiptToken(seed: number, position: number, seq: number, dequeueCount: number): number {
  let h = seed | 0;
  h = mixIn(h, position);
  h = mixIn(h, seq | 0);
  h = mixIn(h, Math.floor(seq / 0x1_0000_0000) | 0);
  h = mixIn(h, dequeueCount | 0);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
