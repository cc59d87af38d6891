// The server's checks on a whole batch of bodies (BatchSendMessage and BatchPublishMessage), shared
// by InMemoryCmq's queues and topics.

import { CmqError } from './errors';
import { LIMITS } from '../protocol/limits';

/** Empty bodies first, then the 1 MB total, in the order the server checks them. */
export function checkBatchBytes(bodies: ReadonlyArray<string | Buffer>): void {
  let total = 0;
  for (const b of bodies) {
    const bytes = typeof b === 'string' ? Buffer.byteLength(b) : b.length;
    if (bytes === 0) throw CmqError.fromName('msgBodyEmpty');
    total += bytes;
  }
  if (total > LIMITS.batchBodyBytesMax) throw CmqError.fromName('batchTooLarge');
}
