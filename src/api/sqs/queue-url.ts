// Queue URLs (`BASEURL/ACCOUNTID/NAME`) and ARNs (`arn:aws:sqs:REGION:ACCOUNTID:NAME`): how SQS
// names a queue, made from and read back to opencmq's queue name.

import { fail, type ErrorResult } from '../../protocol/errors';
import type { SqsEnv } from './types';
import { SQS_QUEUE_NAME_RE } from './validation';

export function queueUrl(env: SqsEnv, queueName: string): string {
  return `${env.baseUrl.replace(/\/+$/, '')}/${env.accountId}/${queueName}`;
}

export function queueArn(env: SqsEnv, queueName: string): string {
  return `arn:aws:sqs:${env.region}:${env.accountId}:${queueName}`;
}

const URL_PATH_RE = /^\/(\d{12})\/([^/]+)\/?$/;
/**
 * A queue URL as servers give them out: http(s), a host name or dotted IPv4 address, an optional
 * port, and a path of queue-name characters. For these (see plainUrlPath) the URL parser's
 * pathname is the path as written; anything else goes through the parser.
 */
const PLAIN_URL_RE = /^https?:\/\/([A-Za-z0-9.-]+)(?::(\d{1,5}))?(\/\d{12}\/[A-Za-z0-9_-]+(?:\.fifo)?\/?)$/;
const IPV4_PART_RE = /^(?:0|[1-9]\d{0,2})$/;
const PORT_MAX = 65_535;

/**
 * The path of a URL the parser is certain to accept unchanged, else undefined: the host must be
 * a name whose last label starts with a letter (the parser reads a host ending in a number as an
 * IPv4 address, and may refuse it) or four decimal parts of at most 255, and the port in range.
 */
function plainUrlPath(url: string): string | undefined {
  const m = PLAIN_URL_RE.exec(url);
  if (m === null) return undefined;
  const [, host, port, path] = m as unknown as [string, string, string | undefined, string];
  if (port !== undefined && Number(port) > PORT_MAX) return undefined;
  const labels = host.split('.');
  const last = labels[labels.length - 1]!;
  const isName = /^[A-Za-z]/.test(last);
  const isIpv4 = labels.length === 4 && labels.every((p) => IPV4_PART_RE.test(p) && Number(p) <= 255);
  return isName || isIpv4 ? path : undefined;
}

/**
 * The queue name of a QueueUrl. Any scheme and host are accepted (clients may reach this server
 * under another name than the one it gave out); the path must be `/<12 digits>/<name>`, else
 * invalidAddress. Another account's URL names a queue that does not exist here: queueNotExist.
 */
export function queueNameOfUrl(env: Pick<SqsEnv, 'accountId'>, url: string): string | ErrorResult {
  let path: string;
  const plain = url.startsWith('/') ? undefined : plainUrlPath(url);
  if (url.startsWith('/')) {
    path = url;
  } else if (plain !== undefined) {
    path = plain; // what URL's pathname would be, without building a URL on every request
  } else {
    try {
      path = new URL(url).pathname;
    } catch {
      return fail('invalidAddress', url);
    }
  }
  const m = URL_PATH_RE.exec(path);
  if (m === null) return fail('invalidAddress', url);
  const [, account, name] = m as unknown as [string, string, string];
  if (!SQS_QUEUE_NAME_RE.test(name)) return fail('invalidAddress', url);
  if (account !== env.accountId) return fail('queueNotExist', undefined, `(account ${account} is not this server's ${env.accountId})`);
  return name;
}

const ARN_RE = /^arn:[a-z-]+:sqs:[a-z0-9-]*:(\d{12}):([A-Za-z0-9_.-]+)$/;

/**
 * The queue name of an SQS queue ARN of this account, or undefined when the text is not one. The
 * region is not compared: the server has one set of queues whatever region a client signs for.
 */
export function queueNameOfArn(env: SqsEnv, arn: string): string | undefined {
  const m = ARN_RE.exec(arn);
  if (m === null) return undefined;
  const [, account, name] = m as unknown as [string, string, string];
  if (account !== env.accountId || !SQS_QUEUE_NAME_RE.test(name)) return undefined;
  return name;
}
