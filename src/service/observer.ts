// The observation seam of the service: told of every request served, whatever protocol carried
// it. No-op unless the host binds it (node/metrics.ts binds it to Prometheus).

import type { ErrorKind } from '../protocol/errors';
import type { RequestContext } from './request-context';

export interface RequestObserver {
  /**
   * One request was executed here (not forwarded): `action` is the protocol's name for it from a
   * fixed table ("unknown" when the request named none), `outcome` the kind of its error or 'ok'.
   */
  served(action: string, ctx: RequestContext, outcome: ErrorKind | 'ok', durationMs: number): void;
}

export const NO_OBSERVER: RequestObserver = {
  served: () => undefined,
};
