// Which subscriptions a published message goes to (spec §3.4). Pure functions over strings, so
// the rules can be table-tested on their own.

import { FILTER_TYPE, type TopicFilterType } from '../protocol/topic-types';

/**
 * filterType 1 (tags): a subscription without filterTags takes every message; one with filterTags
 * takes a message only if the message carries at least one of them (so never an untagged one).
 */
export function tagsMatch(filterTags: readonly string[], msgTags: readonly string[]): boolean {
  if (filterTags.length === 0) return true;
  for (const t of msgTags) if (filterTags.includes(t)) return true;
  return false;
}

/**
 * One AMQP topic-exchange binding key against a routing key. Words are separated by '.'; `*`
 * matches exactly one non-empty word, `#` zero or more words; any other word matches only itself
 * (case-sensitive). So `1.#.0` matches `1.0` and `1.2.3.4.4.2.2.0`, and `#` matches everything.
 */
export function bindingKeyMatches(bindingKey: string, routingKey: string): boolean {
  const pattern = bindingKey.split('.');
  const words = routingKey.split('.');
  // can[j]: pattern[0, i) matches words[0, j). Keys hold ≤ 16 words, so this is tiny.
  let can: boolean[] = words.map(() => false);
  can.push(false);
  can[0] = true;
  for (const p of pattern) {
    const next: boolean[] = new Array<boolean>(words.length + 1).fill(false);
    for (let j = 0; j <= words.length; j++) {
      if (p === '#') {
        // '#' takes words[k, j) for some k ≤ j.
        next[j] = can[j]! || (j > 0 && next[j - 1]!);
      } else if (j > 0 && can[j - 1]!) {
        const w = words[j - 1]!;
        next[j] = p === '*' ? w.length > 0 : p === w;
      }
    }
    can = next;
  }
  return can[words.length]!;
}

/** filterType 2: a message matches if any of the subscription's binding keys matches its routing key. */
export function routingKeyMatches(bindingKeys: readonly string[], routingKey: string): boolean {
  for (const b of bindingKeys) if (bindingKeyMatches(b, routingKey)) return true;
  return false;
}

export interface SubscriptionFilter {
  filterTags: readonly string[];
  bindingKeys: readonly string[];
}

/** On a filterType 1 topic routing and binding keys are ignored; on filterType 2, tags are. */
export function subscriptionMatches(filterType: TopicFilterType, sub: SubscriptionFilter, msgTags: readonly string[], routingKey: string): boolean {
  return filterType === FILTER_TYPE.tag ? tagsMatch(sub.filterTags, msgTags) : routingKeyMatches(sub.bindingKeys, routingKey);
}
