// The example cluster file in the repository stays valid as the schema changes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { clusterLayer, readClusterFile, resolveConfig } from '@paddock/config';
import { REPO_ROOT } from '@paddock/platform';

test('paddock.example.toml is a valid cluster file', () => {
  const configPath = join(REPO_ROOT, 'paddock.example.toml');
  const file = readClusterFile(configPath);
  const c = resolveConfig([clusterLayer({ file, configPath })], file.requirements);
  assert.equal(c.model_provider, 'local');
  assert.equal(c.approvals_reviewer, 'auto_review');
  assert.deepEqual(
    c.rules.map((r) => r.decision),
    ['allow', 'forbidden'],
  );
  assert.equal(file.orchestrator?.port, 8080);
});
