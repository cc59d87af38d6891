// The SQS listener: the shared HTTP machinery (../http-listener.ts: deadlines, connection caps,
// oversize refusal, TLS) answering with the SQS wire (./wire.ts). The listener's own refusals
// are SQS errors too, in the protocol the request's headers name (JSON 1.0 when they carry
// X-Amz-Target, else query XML) and with SQS's HTTP statuses.

import type * as http from 'node:http';
import { fail } from '../../protocol/errors';
import { LIMITS } from '../../protocol/limits';
import { createHttpListener, type HttpAnswer, type HttpProtocol, type ListenerOptions } from '../http-listener';
import { createSqsContext, handleSqsRequest, sqsErrorAnswer, sqsProtocolOf, type SqsContext, type SqsWireOptions } from './wire';

export interface SqsServerOptions extends SqsWireOptions, ListenerOptions {}

/** An HTTP server answering SQS requests (both protocols) at any path. Call `.listen()` on it. */
export function createSqsServer(opts: SqsServerOptions): http.Server {
  return createHttpListener(sqsProtocol(createSqsContext(opts)), opts);
}

export function sqsProtocol(ctx: SqsContext): HttpProtocol {
  const tooLarge = (headers: http.IncomingHttpHeaders | undefined): HttpAnswer =>
    sqsErrorAnswer(headers ? sqsProtocolOf(headers) : 'query', fail('cannotParse', 'request', `(more than ${LIMITS.requestBytesMax} bytes)`), ctx.nextRequestId());
  return {
    serve: (req) => handleSqsRequest(ctx, req),
    tooLarge,
    headersTooLarge: () => tooLarge(undefined),
    timedOut: (timeoutMs, headers) =>
      sqsErrorAnswer(
        headers ? sqsProtocolOf(headers) : 'query',
        fail('notApplied', undefined, `(request not received within ${timeoutMs / 1000} s)`),
        ctx.nextRequestId(),
      ),
    failed: (e: unknown) => {
      const requestId = ctx.nextRequestId();
      ctx.log.error(`unexpected rejection in request ${requestId}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, { requestId });
      return sqsErrorAnswer('query', fail('internalError'), requestId);
    },
  };
}
