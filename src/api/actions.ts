// The action dispatch table. Each protocol area (queues, topics, admin) contributes a record of
// canonical action name -> handler; lookup is case-insensitive (spec §1.2 [rec], so Java's
// misspelt `ClearSUbscriptionFIlterTags` matches ClearSubscriptionFilterTags).

import type { FormParams } from './form';
import type { ActionOutcome } from './response';
import type { QueueService } from '../service/queue-service';
import type { RequestContext } from '../service/request-context';

export interface ActionEnv {
  service: QueueService;
  /** The request's context: the first argument of every service call. */
  ctx: RequestContext;
  compat?: ApiCompat;
}

/** Opt-in deviations from the spec for clients that expect them. */
export interface ApiCompat {
  /**
   * ListSubscriptionByTopic on a missing topic answers code 0 with an empty list instead of
   * 4440/10600: the unmodified Java SDK TopicTest lists subscriptions after deleting the topic.
   */
  emptySubscriptionListForMissingTopic?: boolean;
}

export type ActionHandler = (env: ActionEnv, params: FormParams) => Promise<ActionOutcome>;

export type ActionTable = ReadonlyMap<string, { name: string; handler: ActionHandler }>;

export function buildActionTable(...groups: Readonly<Record<string, ActionHandler>>[]): ActionTable {
  const table = new Map<string, { name: string; handler: ActionHandler }>();
  for (const group of groups) {
    for (const [name, handler] of Object.entries(group)) {
      const key = name.toLowerCase();
      if (table.has(key)) throw new Error(`duplicate CMQ action ${name}`);
      table.set(key, { name, handler });
    }
  }
  return table;
}

export function findAction(table: ActionTable, action: string): ActionHandler | undefined {
  return table.get(action.toLowerCase())?.handler;
}
