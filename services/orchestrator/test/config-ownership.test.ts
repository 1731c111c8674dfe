// Config ownership through the API, against a real Redis: a member's layer that sets an operator key is
// a 400 naming key and owner; the new requirement ceilings refuse what lies outside them and combine
// with the cluster's; and environments and threads stored before these rules keep working.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '@paddock/contracts';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, captureLogs, newThread, newWorkspace, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);
const logs = captureLogs();

before(async () => {
  redis = await startRedis({ appendonly: true });
  orch = await start(redis.url, {
    dispatch: false,
    logger: logs.logger,
    clusterFile: {
      model: 'cluster-model',
      model_provider: 'local',
      model_providers: { local: { base_url: 'http://127.0.0.1:9/v1', env_key: 'LOCAL_MODEL_KEY' } },
      requirements: { allowed_domains: ['**.example.com', '**.other.test'], allow_tenant_allow_rules: true },
    },
  });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

async function withMember(name: string) {
  const ws = await newWorkspace(call, name);
  const add = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
    email: `dev@${name}.test`,
    role: 'member',
    can_create_tokens: false,
  });
  assert.equal(add.status, 201);
  return { ...ws, member: add.json.access_token.secret as string };
}
const putRequirements = (wsId: string, token: string, body: unknown) =>
  call('PUT', `/v1/workspaces/${wsId}/requirements`, token, body);

/** The queued turn's job as the worker will read it. */
async function queuedJob(turnId: string): Promise<{ config: Record<string, unknown> }> {
  const raw = await redis.client().hgetall(keys.turn(turnId));
  const json = raw['job'];
  return JSON.parse(json!) as { config: Record<string, unknown> };
}

describe('who may set what', () => {
  test('a member\'s thread or turn layer setting model_providers is 400 config_key_not_owned naming key and owner; a service section is unknown', async () => {
    const ws = await withMember('own1');
    const { threadId } = await newThread(call, ws.member, { model_provider: 'local' });
    const provider = { model_providers: { x: { base_url: 'http://127.0.0.1:1/v1', env_key: 'LOCAL_MODEL_KEY' } } };
    const env = await call('POST', '/v1/environments', ws.member, { name: 'e', image: 'paddock/sandbox-base:latest' });
    const thread = await call('POST', '/v1/threads', ws.member, { environment_id: env.json.id, config: provider });
    assert.equal(thread.status, 400);
    assert.deepEqual([thread.json.error.code, thread.json.error.field], ['config_key_not_owned', 'model_providers']);
    assert.match(thread.json.error.message, /only the operator \(cluster file\) may set this key/);
    const turn = await call('POST', `/v1/threads/${threadId}/turns`, ws.member, { commands: [{ argv: ['true'] }], config: provider });
    assert.equal(turn.status, 400);
    assert.deepEqual([turn.json.error.code, turn.json.error.field], ['config_key_not_owned', 'model_providers']);
    const section = await call('POST', `/v1/threads/${threadId}/turns`, ws.member, {
      commands: [{ argv: ['true'] }],
      config: { guardian: { url: 'http://127.0.0.1:1' } },
    });
    assert.equal(section.status, 400);
    assert.equal(section.json.error.field, 'guardian');
  });

  test('members cannot set requirements; owners can, and their ceilings then refuse what lies outside, naming key and constraint', async () => {
    const ws = await withMember('own2');
    assert.equal((await putRequirements(ws.id, ws.member, { allowed_models: ['m'] })).status, 403);
    const put = await putRequirements(ws.id, ws.owner, {
      allowed_models: ['cluster-model', 'small'],
      allowed_network_modes: ['off', 'allowlist'],
      allowed_domains: ['api.example.com'],
      allowed_ports: [443],
      allowed_writable_root_prefixes: ['/data'],
      allow_tenant_allow_rules: false,
    });
    assert.equal(put.status, 200, put.body);
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ model: 'big' }, 'model', /allowed_models/],
      [{ network: { mode: 'full' } }, 'network.mode', /allowed_network_modes/],
      [{ network: { mode: 'allowlist', allowed_domains: ['evil.test'] } }, 'network.allowed_domains', /allowed_domains/],
      [{ network: { mode: 'allowlist', allowed_ports: [22] } }, 'network.allowed_ports', /allowed_ports/],
      [{ sandbox_workspace_write: { writable_roots: ['/etc'] } }, 'sandbox_workspace_write.writable_roots', /allowed_writable_root_prefixes/],
      [{ rules: [{ pattern: ['git', 'push'], decision: 'allow' }] }, 'rules[0].decision', /allow_tenant_allow_rules/],
    ];
    for (const [config, field, constraint] of cases) {
      const env = await call('POST', '/v1/environments', ws.member, { name: 'e', image: 'paddock/sandbox-base:latest' });
      const r = await call('POST', '/v1/threads', ws.member, { environment_id: env.json.id, config });
      assert.equal(r.status, 400, `${JSON.stringify(config)}: ${r.body}`);
      assert.equal(r.json.error.code, 'config_not_allowed');
      assert.equal(r.json.error.field, field);
      assert.match(r.json.error.message, constraint);
    }
    // Inside every ceiling: accepted, and the unchosen port default narrowed to the ceiling.
    const { threadId } = await newThread(call, ws.member, {
      model: 'small',
      network: { mode: 'allowlist', allowed_domains: ['api.example.com'] },
      sandbox_workspace_write: { writable_roots: ['/data/cache'] },
      rules: [{ pattern: ['rm'], decision: 'forbidden' }],
    });
    const got = await call('GET', `/v1/threads/${threadId}`, ws.member);
    assert.equal(got.status, 200);
  });

  test('workspace requirements cannot reach past the cluster\'s: a domain outside its ceiling, or allow rules it forbids', async () => {
    const ws = await withMember('own3');
    const wide = await putRequirements(ws.id, ws.owner, { allowed_domains: ['**.example.com', 'evil.test'] });
    assert.equal(wide.status, 400, wide.body);
    assert.equal(wide.json.error.field, 'allowed_domains');
    assert.match(wide.json.error.message, /evil\.test/);
    // The cluster's own domain ceiling applies with no workspace requirements at all.
    const env = await call('POST', '/v1/environments', ws.member, { name: 'e', image: 'paddock/sandbox-base:latest' });
    const r = await call('POST', '/v1/threads', ws.member, {
      environment_id: env.json.id,
      config: { network: { mode: 'allowlist', allowed_domains: ['evil.test'] } },
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.field, 'network.allowed_domains');
  });
});

describe('stored before the upgrade', () => {
  test('an environment and a thread whose stored config holds now-refused keys keep working: the keys are dropped with a warning', async () => {
    const ws = await withMember('old1');
    const { envId, threadId } = await newThread(call, ws.member, { model: 'cluster-model' });
    // Rewrite both records as an older version accepted them: a provider table, a provider it defines,
    // and a thread policy that used to replace the guardian's.
    const envKey = keys.environment(envId);
    const env = JSON.parse((await redis.client().get(envKey))!) as Record<string, unknown>;
    env['config'] = '[model_providers.mine]\nbase_url = "http://127.0.0.1:2/v1"\nenv_key = "LOCAL_MODEL_KEY"\n';
    await redis.client().set(envKey, JSON.stringify(env));
    const threadKey = keys.thread(threadId);
    const thread = JSON.parse((await redis.client().hget(threadKey, 'json'))!) as Record<string, unknown>;
    thread['config'] = {
      model_provider: 'mine',
      model_providers: { mine: { base_url: 'http://127.0.0.1:3/v1', env_key: 'LOCAL_MODEL_KEY' } },
      auto_review: { policy: 'old thread policy' },
      sandbox_mode: 'read-only',
    };
    await redis.client().hset(threadKey, 'json', JSON.stringify(thread));

    const turn = await call('POST', `/v1/threads/${threadId}/turns`, ws.member, { commands: [{ argv: ['true'] }] });
    assert.equal(turn.status, 202, turn.body);
    const job = await queuedJob(turn.json.id as string);
    assert.equal(job.config['model_provider'], 'local', 'the cluster\'s provider, since the stored one is gone');
    assert.equal(job.config['model_providers'], undefined, 'no provider table travels with the turn');
    assert.equal(job.config['sandbox_mode'], 'read-only', 'the rest of the stored thread config still applies');
    assert.deepEqual(job.config['guardian_tenant_guidance'], ['old thread policy']);
    assert.equal(job.config['guardian_policy'], undefined);
    assert.match(logs.text(), /ignored in this stored environment layer: only the operator/);
    assert.match(logs.text(), /ignored in this stored thread layer: only the operator/);
    // A new turn layer with the same keys is still refused.
    const fresh = await call('POST', `/v1/threads/${threadId}/turns`, ws.member, {
      commands: [{ argv: ['true'] }],
      config: { model_providers: thread['config'] },
    });
    assert.equal(fresh.status, 400);
    assert.equal(fresh.json.error.code, 'config_key_not_owned');
  });
});
