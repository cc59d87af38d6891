// The seam between the SQS wire (./wire.ts: both protocols, signatures, rendering) and the SQS
// actions (./actions.ts). Both protocols are parsed into one input shape, the AWS JSON 1.0 shape
// of the action's request (the query protocol's flattened `Attribute.1.Name` parameters are
// rebuilt into it), so each action is written once; its output is the JSON 1.0 shape of the
// action's response, which the wire renders as JSON or as the query protocol's XML.

import type { ErrorResult } from '../../protocol/errors';
import type { QueueService } from '../../service/queue-service';
import type { RequestContext } from '../../service/request-context';

/** An action's request in the AWS JSON 1.0 shape: strings, numbers, booleans, lists, maps. */
export type SqsInput = Readonly<Record<string, unknown>>;

/** An action's response in the AWS JSON 1.0 shape (an empty object for actions without output). */
export type SqsOutput = Record<string, unknown>;

export interface SqsEnv {
  service: QueueService;
  ctx: RequestContext;
  /** Scheme, host and port the client addressed, e.g. "http://127.0.0.1:9324": queue URLs start with it. */
  baseUrl: string;
  /** The 12-digit account id of queue URLs and ARNs (one per server). */
  accountId: string;
  /** The region of ARNs: the one the client signed for, else the server's default. */
  region: string;
  /** Who sent the request (SenderId): the access key id that signed it, or the account id when unsigned. */
  senderId: string;
  /**
   * Every string of the input is known to hold only the characters SQS allows in a message
   * (the wire saw it in the request's bytes), so the actions need not look at each one again.
   */
  textAllowed?: boolean;
}

/** An action: its output, or an error from the registry (protocol/errors.ts), rendered by the wire. */
export type SqsAction = (env: SqsEnv, input: SqsInput) => Promise<SqsOutput | ErrorResult>;
