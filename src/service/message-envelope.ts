// Stand-in (replaced at merge by the tested module): an SQS message stored as one body, its
// message attributes and system attributes ahead of the body.

export interface MessageAttributeValue {
  dataType: string;
  stringValue?: string;
  binaryValue?: Uint8Array;
}

export interface MessageEnvelope {
  attributes: Map<string, MessageAttributeValue>;
  system: Map<string, MessageAttributeValue>;
  body: Uint8Array;
}

const MAGIC = 0xe1;

type Wire = [string, string, string | null, string | null][];

function toWire(m: Map<string, MessageAttributeValue>): Wire {
  return [...m].map(([k, v]) => [k, v.dataType, v.stringValue ?? null, v.binaryValue ? Buffer.from(v.binaryValue).toString('base64') : null]);
}

function fromWire(w: Wire): Map<string, MessageAttributeValue> {
  const m = new Map<string, MessageAttributeValue>();
  for (const [k, t, s, b] of w) {
    const v: MessageAttributeValue = { dataType: t };
    if (s !== null) v.stringValue = s;
    if (b !== null) v.binaryValue = Buffer.from(b, 'base64');
    m.set(k, v);
  }
  return m;
}

export function encodeEnvelope(e: MessageEnvelope): Uint8Array {
  const head = Buffer.from(JSON.stringify([toWire(e.attributes), toWire(e.system)]));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  return Buffer.concat([Buffer.from([MAGIC]), len, head, e.body]);
}

export function decodeEnvelope(bytes: Uint8Array): MessageEnvelope | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 5 || b[0] !== MAGIC) return undefined;
  const n = b.readUInt32BE(1);
  if (5 + n > b.length) return undefined;
  try {
    const [a, s] = JSON.parse(b.subarray(5, 5 + n).toString()) as [Wire, Wire];
    return { attributes: fromWire(a), system: fromWire(s), body: b.subarray(5 + n) };
  } catch {
    return undefined;
  }
}

function attrBytes(m: Map<string, MessageAttributeValue>): number {
  let n = 0;
  for (const [k, v] of m) {
    n += Buffer.byteLength(k) + Buffer.byteLength(v.dataType);
    n += v.stringValue !== undefined ? Buffer.byteLength(v.stringValue) : (v.binaryValue?.byteLength ?? 0);
  }
  return n;
}

export function countedBytes(e: MessageEnvelope): number {
  return e.body.byteLength + attrBytes(e.attributes) + attrBytes(e.system);
}
