// The MD5 digests SQS returns beside a message (MD5OfBody / MD5OfMessageBody,
// MD5OfMessageAttributes, MD5OfMessageSystemAttributes), computed as AWS documents them, so
// that SDKs which check them (Java, .NET, Go, Python) accept our answers.

import { createHash, hash } from 'node:crypto';
import type { MessageAttributeValue } from '../../service/message-envelope';

/** Hex MD5 of the body's bytes (the UTF-8 of the message body). */
export function md5OfBody(body: Uint8Array): string {
  // One call per message of every send and receive: the one-shot digest costs far less than a Hash object.
  return hash('md5', body, 'hex');
}

/** Transport type bytes of the attribute digest: a string value, or a binary one. */
const STRING_TRANSPORT = 1;
const BINARY_TRANSPORT = 2;

/**
 * The digest of a set of attributes: for each attribute in order of name, the name, the data
 * type (each as a 4-byte big-endian length then UTF-8 bytes), one transport byte (1 for a string
 * value, 2 for a binary one) and the value (length then bytes); MD5 hex of it all. Names are
 * sorted by their UTF-8 bytes (SQS names are ASCII, where this is also the SDKs' UTF-16 order).
 */
export type Attributes = ReadonlyMap<string, MessageAttributeValue> | Readonly<Record<string, MessageAttributeValue>>;

export function md5OfMessageAttributes(attrs: Attributes): string {
  const entries: [string, MessageAttributeValue][] = isMap(attrs) ? [...attrs] : Object.entries(attrs);
  const named = entries.map(([name, value]) => ({ name: Buffer.from(name, 'utf8'), value }));
  named.sort((a, b) => Buffer.compare(a.name, b.name));
  const hash = createHash('md5');
  const length = Buffer.alloc(4);
  const field = (bytes: Uint8Array): void => {
    length.writeUInt32BE(bytes.length, 0);
    hash.update(length);
    hash.update(bytes);
  };
  for (const { name, value } of named) {
    field(name);
    field(Buffer.from(value.dataType, 'utf8'));
    // As the SDKs' checks do: the value present decides the transport type (validation has
    // already matched it to the data type); an attribute with neither contributes no value.
    if (value.stringValue !== undefined) {
      hash.update(Uint8Array.of(STRING_TRANSPORT));
      field(Buffer.from(value.stringValue, 'utf8'));
    } else if (value.binaryValue !== undefined) {
      hash.update(Uint8Array.of(BINARY_TRANSPORT));
      field(value.binaryValue);
    }
  }
  return hash.digest('hex');
}

/** The same digest over the message system attributes (e.g. AWSTraceHeader). */
export function md5OfMessageSystemAttributes(attrs: Attributes): string {
  return md5OfMessageAttributes(attrs);
}

function isMap(attrs: Attributes): attrs is ReadonlyMap<string, MessageAttributeValue> {
  return attrs instanceof Map;
}
