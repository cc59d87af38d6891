// The conformance suite's contract: the SDK-level interface that both CmqClient (HTTP, against a
// real server) and InMemoryCmq implement, the shape of a case, and the runner that registers a
// list of cases with node:test against one implementation. The cases are written once
// (./queue-cases.ts, ./topic-cases.ts); each runner only says how to build and close the target.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { CmqError } from '../../src/client/errors';
import type { CmqQueueApi, CmqTopicApi } from '../../src/client/types';
import { CMQ_ERRORS as ERRORS } from '../../src/protocol/cmq-codes';
import type { ErrorName } from '../../src/protocol/errors';

/** What every implementation offers (CmqClient and InMemoryCmq both implement both halves). */
export type CmqApi = CmqQueueApi & CmqTopicApi;

export interface ConformanceCase {
  name: string;
  run: (api: CmqApi) => Promise<void>;
}

export interface Target {
  api: CmqApi;
  close: () => Promise<void>;
}

export interface RunOptions {
  /** Per case (default 60 s). */
  timeoutMs?: number;
  /** Run the cases at once (they use fresh names, so they do not interfere); default one by one. */
  concurrent?: boolean;
}

/** Registers `cases` as one describe block running against the target `open` builds. */
export function runConformance(label: string, open: () => Promise<Target>, cases: readonly ConformanceCase[], opts: RunOptions = {}): void {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  describe(label, { concurrency: opts.concurrent === true }, () => {
    let target: Target | undefined;
    before(async () => {
      target = await open();
    });
    after(async () => {
      await target?.close();
    });
    for (const c of cases) {
      test(c.name, { timeout: timeoutMs }, async () => {
        assert.ok(target, 'target opened');
        await c.run(target.api);
      });
    }
  });
}

/** A fresh valid resource name (cases share one server, so names never repeat). */
export function fresh(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** Rejects with the registry's error `name`: the same code and module code on every target. */
export async function rejectsWith(p: Promise<unknown>, name: ErrorName): Promise<void> {
  const want = ERRORS[name];
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof CmqError, `expected CmqError ${name}, got ${String(err)}`);
    assert.deepEqual({ code: err.code, module: err.moduleCode }, { code: want.code, module: want.module }, `${name}: ${err.cmqMessage}`);
    return true;
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}
