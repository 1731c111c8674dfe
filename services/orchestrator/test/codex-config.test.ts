// Codex's files through the API: an environment takes a Codex config.toml (ignored_keys in the answer)
// and a Codex rules file (examples checked at create, rules in the thread's effective config); a thread
// reports its own ignored keys; workspace requirements take requirements.toml with its ignored keys.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newWorkspace, start } from './helpers.ts';

const corpus = (name: string) => readFileSync(new URL(`../../../tests/fixtures/codex/${name}`, import.meta.url), 'utf8');
/** config.typical.toml as a tenant may send it: without the operator's [model_providers] and its pick. */
const tenantTypical = corpus('config.typical.toml')
  .replace(/\[model_providers[\s\S]*?(?=\n\[profiles)/, '')
  .replace(/^model_provider = .*$/m, '')
  .replace(/^model_provider = .*$/gm, '');

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true });
  orch = await start(redis.url, { dispatch: false });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

const image = 'paddock/sandbox-base:latest';

test("an environment takes a Codex config.toml: 201, the inapplicable keys listed in ignored_keys", async () => {
  const ws = await newWorkspace(call, 'codexenv');
  const res = await call('POST', '/v1/environments', ws.owner, { name: 'codex', image, config: tenantTypical });
  assert.equal(res.status, 201, res.body);
  for (const key of ['features', 'shell_environment_policy', 'mcp_servers', 'sandbox_workspace_write.exclude_slash_tmp']) {
    assert.ok(res.json.ignored_keys.includes(key), key);
  }
  const again = await call('GET', `/v1/environments/${res.json.id}`, ws.owner);
  assert.equal(again.status, 200);
  assert.equal(again.json.ignored_keys, undefined, 'reported in the create answer only');
  const typo = await call('POST', '/v1/environments', ws.owner, { name: 'typo', image, config: 'modle = "x"\n' });
  assert.equal(typo.status, 400);
  assert.match(typo.json.error.message, /did you mean "model"/);
  const operatorKey = await call('POST', '/v1/environments', ws.owner, { name: 'op', image, config: corpus('config.typical.toml') });
  assert.equal(operatorKey.status, 400);
  assert.equal(operatorKey.json.error.code, 'config_key_not_owned');
});

test("an environment's Codex rules file: examples checked at create, its rules in every thread's effective config", async () => {
  const ws = await newWorkspace(call, 'codexrules');
  const bad = await call('POST', '/v1/environments', ws.owner, {
    name: 'bad',
    image,
    rules: 'prefix_rule(pattern = ["git", "push"], not_match = ["git push"])\n',
  });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /expected example "git push" to not match/);
  const env = await call('POST', '/v1/environments', ws.owner, { name: 'rules', image, rules: corpus('project.rules') });
  assert.equal(env.status, 201, env.body);
  assert.ok(env.json.ignored_keys.some((k: string) => k.startsWith('rules.network_rule')));
  const thread = await call('POST', '/v1/threads', ws.owner, {
    environment_id: env.json.id,
    config: 'approval_policy = "on-failure"\n[tui]\nnotifications = true\n',
  });
  assert.equal(thread.status, 201, thread.body);
  assert.deepEqual(thread.json.ignored_keys, ['tui']);
  const rules = thread.json.effective_config.rules as { pattern: string[]; decision: string; source: string }[];
  assert.ok(rules.some((r) => r.pattern.join(' ') === 'rm -rf' && r.decision === 'forbidden' && r.source === 'environment'));
  assert.equal(thread.json.effective_config.approval_policy, 'on-request');
  const other = await newWorkspace(call, 'codexother');
  const foreign = await call('POST', '/v1/threads', other.owner, { environment_id: env.json.id });
  assert.equal(foreign.status, 404);
});

test('workspace requirements take a Codex requirements.toml: ignored_keys in the answer, the rules apply', async () => {
  const ws = await newWorkspace(call, 'codexreq');
  const res = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, corpus('requirements.full.toml'), {
    'content-type': 'application/toml',
  });
  assert.equal(res.status, 200, res.body);
  assert.ok(res.json.ignored_keys.includes('allowed_web_search_modes'));
  assert.deepEqual(res.json.denied_domains, ['pastebin.com']);
});
