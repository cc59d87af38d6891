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

const DASH = 0x2d;
const ZERO = 0x30;
/** A field has at most this many digits (more could only be beyond 2^53). */
const FIELD_DIGITS_MAX = 16;
const HANDLE_LENGTH_MAX = 80;

/**
 * undefined unless the handle has exactly our shape: four canonical decimals (no sign, no leading
 * zeros, at most 16 digits, at most 2^53 - 1; the token at most 2^32 - 1) joined by '-'. One pass
 * over the characters: every delete parses one handle per message, on the leader's busiest path.
 */
export function parseReceiptHandle(handle: string): ParsedHandle | undefined {
  const n = handle.length;
  if (n > HANDLE_LENGTH_MAX) return undefined;
  let i = 0;
  let queueNumber = 0;
  let seq = 0;
  let dequeueCount = 0;
  let token = 0;
  for (let f = 0; f < 4; f++) {
    if (f > 0) {
      if (i >= n || handle.charCodeAt(i) !== DASH) return undefined;
      i++;
    }
    const start = i;
    let v = 0;
    for (; i < n; i++) {
      const d = handle.charCodeAt(i) - ZERO;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    const digits = i - start;
    if (digits === 0 || digits > FIELD_DIGITS_MAX || (digits > 1 && handle.charCodeAt(start) === ZERO)) return undefined;
    // Exact below 2^53; at or above it, the rounded value stays at or above it.
    if (v > Number.MAX_SAFE_INTEGER) return undefined;
    if (f === 0) queueNumber = v;
    else if (f === 1) seq = v;
    else if (f === 2) dequeueCount = v;
    else token = v;
  }
  if (i !== n || token > 0xffff_ffff) return undefined;
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
