// fast-check generators of controller commands and reads over a small universe (a few set ids,
// names differing only in case, shard counts around the number of sets), so random sequences hit
// the interesting paths (moves racing deletes, growths, draining sets) and the refusals often.

import fc from 'fast-check';
import type { ControllerCommand, ControllerQuery } from '../../src/controller/commands';
import type { EntityType, SetMember } from '../../src/controller/model';

const setId = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(1, 2, 3, 4) }, fc.constantFrom(0, 9));
const type = fc.constantFrom<EntityType>('queue', 'topic');
const name = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('a', 'b') }, fc.constantFrom('A', 'q.fifo'));
const small = fc.integer({ min: 0, max: 5 });
const shardIndex = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, small);

const member: fc.Arbitrary<SetMember> = fc
  .record({ nodeId: fc.constantFrom('n1', 'n2', 'n3', 'n4'), peerAddress: fc.constantFrom('p:1', 'p:2', ''), apiAddress: fc.constantFrom('a:1', 'a:2'), sqs: fc.option(fc.constantFrom('s:1', 's:2'), { nil: undefined }) })
  .map(({ nodeId, peerAddress, apiAddress, sqs }) => (sqs === undefined ? { nodeId, peerAddress, apiAddress } : { nodeId, peerAddress, apiAddress, sqsAddress: sqs }));
const members = fc.oneof({ weight: 6, arbitrary: fc.constant<SetMember[]>([{ nodeId: 'n1', peerAddress: 'p:1', apiAddress: 'a:1' }]) }, fc.array(member, { minLength: 0, maxLength: 4 }));

export const controllerCommand: fc.Arbitrary<ControllerCommand> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('registerSet' as const), setId, group: fc.constantFrom(0, 1, 2, 3, 4, 5), members }) },
  fc.record({ kind: fc.constant('setMembers' as const), setId, members }),
  fc.record({ kind: fc.constant('setSetState' as const), setId, state: fc.constantFrom('active' as const, 'draining' as const) }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('reportLoad' as const),
      setId,
      queues: small,
      messages: fc.integer({ min: -1, max: 1000 }),
      bytes: fc.integer({ min: 0, max: 1_000_000 }),
      requestsPerSecond: fc.double({ min: 0, max: 1000, noNaN: true }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('createEntity' as const), type, name, shards: small }, { requiredKeys: ['kind', 'type', 'name'] }) },
  fc.record({ kind: fc.constant('createEntity' as const), type, name, shards: small, setId }, { requiredKeys: ['kind', 'type', 'name', 'setId'] }),
  fc.record({ kind: fc.constant('deleteEntity' as const), type, name }),
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('beginMove' as const), type, name, to: setId, shard: shardIndex }, { requiredKeys: ['kind', 'type', 'name', 'to'] }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advanceMove' as const), type, name }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('completeMove' as const), type, name }) },
  fc.record({ kind: fc.constant('abortMove' as const), type, name }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('growShards' as const), name, shards: small }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('confirmShard' as const), name, shard: shardIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('adoptEntities' as const), setId, entities: fc.array(fc.record({ type, name: fc.oneof({ weight: 9, arbitrary: name }, fc.constant('bad name')) }, { noNullPrototype: true }), { maxLength: 4 }) }) },
);

export const controllerQuery: fc.Arbitrary<ControllerQuery> = fc.oneof(
  fc.record({ kind: fc.constant('getRoute' as const), type, name }),
  fc.record({ kind: fc.constant('listRoutes' as const), type, prefix: fc.constantFrom('', 'a', 'q'), offset: fc.integer({ min: -1, max: 3 }), limit: fc.integer({ min: 0, max: 3 }) }),
  fc.constant({ kind: 'listSets' as const }),
  fc.record({ kind: fc.constant('listChanges' as const), offset: fc.integer({ min: -1, max: 3 }), limit: fc.integer({ min: 0, max: 3 }) }),
);

/** Sets 1 to 3 registered (most logs start from a cluster), then random commands; entry times never go backwards. */
export const controllerLog = fc
  .tuple(fc.boolean(), fc.array(fc.tuple(controllerCommand, fc.integer({ min: 0, max: 5_000 })), { minLength: 5, maxLength: 80, size: 'large' }))
  .map(([empty, steps]) => {
    let t = 1_000;
    const start: ControllerCommand[] = empty ? [] : [1, 2, 3].map((id) => ({ kind: 'registerSet', setId: id, group: 10 + id, members: [{ nodeId: `n${id}`, peerAddress: `p:${id}`, apiAddress: `a:${id}` }] }));
    return [...start.map((cmd) => ({ cmd, timeMs: t })), ...steps.map(([cmd, dt]) => ({ cmd, timeMs: (t += dt) }))];
  });
