// The conformance suite (test/conformance/) against InMemoryCmq: the fake must behave like the
// server for every case the server passes (test/integration/conformance-server.test.ts).

import { InMemoryCmq } from '../../src/client/fake';
import { queueCases } from '../conformance/queue-cases';
import { runConformance, type Target } from '../conformance/target';
import { topicCases } from '../conformance/topic-cases';

runConformance('InMemoryCmq', () => Promise.resolve<Target>({ api: new InMemoryCmq(), close: () => Promise.resolve() }), [...queueCases, ...topicCases], {
  // In process nothing is shared but the fake, so the cases' real waits may overlap.
  concurrent: true,
});
