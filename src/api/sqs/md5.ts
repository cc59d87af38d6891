// Stand-in (replaced at merge by the tested module): the MD5 digests SQS returns.

import { createHash } from 'node:crypto';
import type { MessageAttributeValue } from '../../service/message-envelope';

export function md5OfBody(body: Uint8Array): string {
  return createHash('md5').update(body).digest('hex');
}

function lengthPrefixed(h: ReturnType<typeof createHash>, bytes: Uint8Array): void {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.byteLength);
  h.update(len);
  h.update(bytes);
}

export function md5OfMessageAttributes(attrs: Map<string, MessageAttributeValue>): string {
  const h = createHash('md5');
  for (const name of [...attrs.keys()].sort()) {
    const v = attrs.get(name) as MessageAttributeValue;
    lengthPrefixed(h, Buffer.from(name));
    lengthPrefixed(h, Buffer.from(v.dataType));
    if (v.binaryValue !== undefined && v.stringValue === undefined) {
      h.update(Buffer.from([2]));
      lengthPrefixed(h, v.binaryValue);
    } else {
      h.update(Buffer.from([1]));
      lengthPrefixed(h, Buffer.from(v.stringValue ?? ''));
    }
  }
  return h.digest('hex');
}

export function md5OfMessageSystemAttributes(attrs: Map<string, MessageAttributeValue>): string {
  return md5OfMessageAttributes(attrs);
}
