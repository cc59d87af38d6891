// The Grafana dashboard and the Prometheus alerting rules shipped in deploy/ name only metrics the
// server exposes, so renaming a metric cannot silently blank a panel or disarm an alert.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { NodeMetrics } from '../../src/node/metrics';
import { parsePromText } from '../helpers/prom-text';

const ROOT = path.join(__dirname, '..', '..', '..');
const HISTOGRAM_SUFFIXES = /_(bucket|sum|count)$/;

async function exposedFamilies(): Promise<Set<string>> {
  const m = new NodeMetrics({ processMetrics: false });
  m.requestDone('SendMessage', 0, 0.001);
  // Families with labels and no source attached still declare # TYPE.
  return new Set(parsePromText(await m.render()).types.keys());
}

function referenced(text: string): Set<string> {
  return new Set([...text.matchAll(/\bopencmq_[a-z_]+/g)].map((m) => m[0].replace(HISTOGRAM_SUFFIXES, '')));
}

void test('the dashboard and the alert rules use only exposed metric names', async () => {
  const exposed = await exposedFamilies();
  const dashboardText = readFileSync(path.join(ROOT, 'deploy', 'grafana', 'opencmq-dashboard.json'), 'utf8');
  const dashboard = JSON.parse(dashboardText) as { panels: unknown[] };
  assert.ok(dashboard.panels.length > 10);
  const rules = readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'opencmq-alerts.yml'), 'utf8');
  for (const [file, text] of [
    ['dashboard', dashboardText],
    ['alerts', rules],
  ] as const) {
    const names = referenced(text);
    assert.ok(names.size > 5, `${file} references metrics`);
    for (const name of names) assert.ok(exposed.has(name), `${file} references ${name}, which the server does not expose`);
  }
});
