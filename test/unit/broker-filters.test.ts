// Topic message filtering (cmq-api.md §3.4): the three tag rules of filterType 1, and AMQP-style
// routing keys of filterType 2, as tables from the spec's examples plus a property test against a
// straightforward recursive reference.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { bindingKeyMatches, routingKeyMatches, subscriptionMatches, tagsMatch } from '../../src/broker/topic-filter';

describe('filterType 1: tags', () => {
  const table: [string, string[], string[], boolean][] = [
    ['rule 1: no filterTag takes an untagged message', [], [], true],
    ['rule 1: no filterTag takes a tagged message', [], ['a', 'b'], true],
    ['rule 2: a shared tag matches', ['a', 'b'], ['b'], true],
    ['rule 2: any one shared tag is enough', ['x'], ['a', 'b', 'x'], true],
    ['rule 2: no shared tag, no match', ['a'], ['c', 'd'], false],
    ['rule 3: filterTags never take an untagged message', ['a'], [], false],
    ['tags compare exactly (case-sensitive)', ['A'], ['a'], false],
  ];
  for (const [what, filterTags, msgTags, want] of table) {
    test(what, () => assert.equal(tagsMatch(filterTags, msgTags), want));
  }
});

describe('filterType 2: binding keys against routing keys', () => {
  const table: [string, string, boolean][] = [
    // The spec's examples.
    ['1.#.0', '1.0', true],
    ['1.#.0', '1.2.3.4.4.2.2.0', true],
    ['#', 'anything', true],
    ['#', 'a.b.c.d', true],
    ['#', '', true],
    // '*' is exactly one non-empty word.
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['*', '', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a', false],
    ['a.*', 'a.b.c', false],
    ['a.*', 'a.', false],
    ['*.b', '.b', false],
    ['*.*', 'x.y', true],
    // '#' is zero or more words.
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['a.#', 'b.a', false],
    ['#.a', 'a', true],
    ['#.a', 'x.y.a', true],
    ['#.a', 'x.y.ab', false],
    ['a.#.#.b', 'a.b', true],
    ['a.#.b', 'a.x.y', false],
    ['#.*', 'a', true],
    ['#.*', '', false],
    ['*.#', 'x', true],
    ['route.#', 'route', true],
    ['route.#', 'router', false],
    // Other words match only themselves, whole and case-sensitively.
    ['a.b', 'a.b', true],
    ['a.b', 'A.b', false],
    ['a.b', 'a.bc', false],
    ['a', 'a.b', false],
    ['a*', 'ab', false],
  ];
  for (const [binding, routing, want] of table) {
    test(`${binding} ${want ? 'matches' : 'does not match'} '${routing}'`, () => assert.equal(bindingKeyMatches(binding, routing), want));
  }

  test('a subscription matches if any of its binding keys does', () => {
    assert.equal(routingKeyMatches(['x.y', 'a.*'], 'a.b'), true);
    assert.equal(routingKeyMatches(['x.y', 'a.*'], 'b.b'), false);
    assert.equal(routingKeyMatches([], 'a'), false);
  });

  /** The AMQP rule written the obvious way. */
  function reference(pattern: string[], words: string[]): boolean {
    if (pattern.length === 0) return words.length === 0;
    const [p, ...rest] = pattern as [string, ...string[]];
    if (p === '#') {
      for (let k = 0; k <= words.length; k++) if (reference(rest, words.slice(k))) return true;
      return false;
    }
    if (words.length === 0) return false;
    const w = words[0]!;
    return (p === '*' ? w.length > 0 : p === w) && reference(rest, words.slice(1));
  }

  test('agrees with a recursive reference on random keys', () => {
    const word = fc.constantFrom('a', 'b', '', '*', '#');
    const key = fc.array(word, { minLength: 1, maxLength: 7 }).map((ws) => ws.join('.'));
    const routing = fc.array(fc.constantFrom('a', 'b', ''), { minLength: 1, maxLength: 7 }).map((ws) => ws.join('.'));
    fc.assert(
      fc.property(key, routing, (b, r) => {
        assert.equal(bindingKeyMatches(b, r), reference(b.split('.'), r.split('.')), `${b} vs ${r}`);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the topic filterType decides which mechanism applies', () => {
  test('filterType 1 ignores routing and binding keys', () => {
    const sub = { filterTags: [], bindingKeys: ['route.#'] };
    assert.equal(subscriptionMatches(1, sub, [], 'other'), true);
    assert.equal(subscriptionMatches(1, { filterTags: ['t'], bindingKeys: ['#'] }, [], 'x'), false);
  });

  test('filterType 2 ignores tags', () => {
    assert.equal(subscriptionMatches(2, { filterTags: ['t'], bindingKeys: ['a.*'] }, [], 'a.b'), true);
    assert.equal(subscriptionMatches(2, { filterTags: [], bindingKeys: ['a.*'] }, ['t'], 'b.b'), false);
  });
});
