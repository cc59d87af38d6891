// An AWS JSON 1.0 request as the SQS listener hands it to handleSqsRequest (src/api/sqs/wire.ts),
// for unit tests that drive the wire without a socket.

import type { HttpRequest } from '../../src/api/http-listener';

export function sqsJsonRequest(action: string, body: Buffer, headers: Record<string, string> = {}): HttpRequest {
  return {
    method: 'POST',
    host: '127.0.0.1:9324',
    path: '/',
    query: '',
    headers: { 'x-amz-target': `AmazonSQS.${action}`, 'content-type': 'application/x-amz-json-1.0', ...headers },
    body,
    tls: false,
    remote: '127.0.0.1',
  };
}
