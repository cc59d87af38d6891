// SQS actions driven directly (no wire) against a real one-node QueueNode in a temp dir: the
// actions see the same service the CMQ API sees, so a test can mix both.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { SQS_ACTIONS } from '../../src/api/sqs/actions';
import type { SqsEnv, SqsInput, SqsOutput } from '../../src/api/sqs/types';
import { QueueNode } from '../../src/node/queue-node';
import type { ErrorResult } from '../../src/protocol/errors';
import type { RequestContext } from '../../src/service/request-context';

export const ACCOUNT = '000000000000';

/** A queue's ARN in the test region (another account's with `account`). */
export const arn = (name: string, account = ACCOUNT): string => `arn:aws:sqs:us-east-1:${account}:${name}`;
export const BASE_URL = 'http://127.0.0.1:9324';
export const SENDER = 'AKIDSQSTEST';

export interface SqsNode {
  node: QueueNode;
  env: SqsEnv;
  ctx: RequestContext;
  /** The action's output or its error, as the wire would get it. */
  call(action: string, input: SqsInput): Promise<SqsOutput | ErrorResult>;
  /** The action's output; fails the test on an error. */
  ok(action: string, input: SqsInput): Promise<SqsOutput>;
  /** The action's error name; fails the test on success. */
  err(action: string, input: SqsInput): Promise<ErrorResult>;
  url(queueName: string): string;
  close(): Promise<void>;
}

export async function openSqsNode(): Promise<SqsNode> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opencmq-sqs-'));
  const node = await QueueNode.open({ dataDir, segmentBytes: 1024 * 1024, log: () => {} });
  const ctx: RequestContext = { requestId: 'sqs-test', clientAddress: '127.0.0.1', receivedAtMs: Date.now() };
  const env: SqsEnv = { service: node, ctx, baseUrl: BASE_URL, accountId: ACCOUNT, region: 'us-east-1', senderId: SENDER };
  const call = async (action: string, input: SqsInput): Promise<SqsOutput | ErrorResult> => {
    const a = SQS_ACTIONS[action];
    assert.ok(a, `no action ${action}`);
    const out = await a(env, input);
    // As a JSON client sees it (a body read from the log is rendered from its bytes).
    return JSON.parse(JSON.stringify(out)) as SqsOutput | ErrorResult;
  };
  return {
    node,
    env,
    ctx,
    call,
    async ok(action, input) {
      const r = await call(action, input);
      assert.notEqual((r as { ok?: unknown }).ok, false, `${action} failed: ${JSON.stringify(r)}`);
      return r as SqsOutput;
    },
    async err(action, input) {
      const r = await call(action, input);
      assert.equal((r as { ok?: unknown }).ok, false, `${action} succeeded: ${JSON.stringify(r)}`);
      return r as ErrorResult;
    },
    url: (name) => `${BASE_URL}/${ACCOUNT}/${name}`,
    async close() {
      await node.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
