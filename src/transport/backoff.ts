// Reconnect delays: exponential from reconnectBackoffMsMin to reconnectBackoffMsMax, with "equal
// jitter" (a uniform draw from the upper half) so nodes that lost each other at once do not redial
// in lockstep. This is the I/O layer, so the randomness comes straight from node:crypto.

import { randomInt } from 'node:crypto';

import type { TransportLimits } from './limits';

export function reconnectDelayMs(failedAttempts: number, limits: TransportLimits): number {
  const exponent = Math.min(failedAttempts, 30);
  const ceiling = Math.min(limits.reconnectBackoffMsMax, limits.reconnectBackoffMsMin * 2 ** exponent);
  const half = Math.floor(ceiling / 2);
  return half + randomInt(0, ceiling - half + 1);
}
