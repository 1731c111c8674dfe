// A thread's own repository and the two workspace requirements of issue 14's leftovers, against a
// real Redis: `allowed_repository_hosts` refuses a repository host outside it (400 naming
// repository.url) at environment, thread and turn time; `workspace_retention_ms` only lowers the
// cluster's idle retention and travels in the turn job; the thread view's expiry follows it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys, sandboxKeys, type TurnJob } from '@paddock/contracts';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { sandboxView } from '../src/routes/files.ts';
import { api, newWorkspace, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);
const CLUSTER_RETENTION_MS = 3_600_000;
before(async () => {
  redis = await startRedis({ appendonly: true });
  // No dispatcher: the accepted turn's job stays readable as queued.
  orch = await start(redis.url, { settings: { workspaceRetentionMs: CLUSTER_RETENTION_MS }, dispatch: false });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

const IMAGE = 'paddock/sandbox-base:latest';
const jobOf = async (turnId: string): Promise<TurnJob> => JSON.parse((await redis.client().hget(keys.turn(turnId), 'job'))!);

describe('repository per thread and allowed_repository_hosts', () => {
  test("the thread's repository replaces the environment's in the turn; hosts outside the requirement are refused", async () => {
    const ws = await newWorkspace(call, 'repos');
    const put = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, {
      allowed_repository_hosts: ['git.allowed.test', 'git.ported.test:8443'],
    });
    assert.equal(put.status, 200, put.body);

    // Environment and thread creation both check the host now.
    const badEnv = await call('POST', '/v1/environments', ws.owner, {
      name: 'e', image: IMAGE, repository: { url: 'https://git.elsewhere.test/a.git' },
    });
    assert.equal(badEnv.status, 400, badEnv.body);
    assert.equal(badEnv.json.error.code, 'repository_not_allowed');
    assert.match(badEnv.json.error.message, /repository\.url: git\.elsewhere\.test/);
    const env = await call('POST', '/v1/environments', ws.owner, {
      name: 'e', image: IMAGE, repository: { url: 'https://git.allowed.test/env.git', ref: 'main' },
    });
    assert.equal(env.status, 201, env.body);
    const badThread = await call('POST', '/v1/threads', ws.owner, {
      environment_id: env.json.id, repository: { url: 'https://git.ported.test/x.git' }, // the port is part of the host
    });
    assert.equal(badThread.status, 400, badThread.body);
    assert.match(badThread.json.error.message, /allowed_repository_hosts/);

    const thread = await call('POST', '/v1/threads', ws.owner, {
      environment_id: env.json.id, repository: { url: 'https://git.ported.test:8443/thread.git', ref: 'v1.2' },
    });
    assert.equal(thread.status, 201, thread.body);
    assert.deepEqual(thread.json.repository, { url: 'https://git.ported.test:8443/thread.git', ref: 'v1.2' });
    const turn = await call('POST', `/v1/threads/${thread.json.id}/turns`, ws.owner, { commands: [{ argv: ['true'] }] });
    assert.equal(turn.status, 202, turn.body);
    assert.deepEqual((await jobOf(turn.json.id)).environment.repository, { url: 'https://git.ported.test:8443/thread.git', ref: 'v1.2' });

    // A thread without its own repository keeps the environment's.
    const plain = await call('POST', '/v1/threads', ws.owner, { environment_id: env.json.id });
    const plainTurn = await call('POST', `/v1/threads/${plain.json.id}/turns`, ws.owner, { commands: [{ argv: ['true'] }] });
    assert.equal(plainTurn.status, 202, plainTurn.body);
    assert.deepEqual((await jobOf(plainTurn.json.id)).environment.repository, { url: 'https://git.allowed.test/env.git', ref: 'main' });

    // The requirement tightened after creation: the next turn is refused, nothing is queued.
    const tighter = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, { allowed_repository_hosts: ['git.allowed.test'] });
    assert.equal(tighter.status, 200, tighter.body);
    const refused = await call('POST', `/v1/threads/${thread.json.id}/turns`, ws.owner, { commands: [{ argv: ['true'] }] });
    assert.equal(refused.status, 400, refused.body);
    assert.match(refused.json.error.message, /repository\.url: git\.ported\.test:8443/);
    assert.equal(await redis.client().zcard(keys.threadTurns(thread.json.id)), 1);
  });

  test('a repository on a thread is tenant-scoped: another workspace cannot open a thread on this environment', async () => {
    const a = await newWorkspace(call, 'repo-a');
    const b = await newWorkspace(call, 'repo-b');
    const env = await call('POST', '/v1/environments', a.owner, { name: 'e', image: IMAGE });
    const other = await call('POST', '/v1/threads', b.owner, {
      environment_id: env.json.id, repository: { url: 'https://git.allowed.test/x.git' },
    });
    assert.equal(other.status, 404, other.body);
  });

  test('a malformed thread repository is a 400 naming the field', async () => {
    const ws = await newWorkspace(call, 'repo-bad');
    const env = await call('POST', '/v1/environments', ws.owner, { name: 'e', image: IMAGE });
    const bad = await call('POST', '/v1/threads', ws.owner, { environment_id: env.json.id, repository: { url: 'ftp://x/y' } });
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.json.error.message, /repository/);
  });
});

describe('workspace_retention_ms', () => {
  test("lowers the cluster's retention (never raises it); the turn job carries it; the view's expiry follows the record", async () => {
    const ws = await newWorkspace(call, 'retain');
    const env = await call('POST', '/v1/environments', ws.owner, { name: 'e', image: IMAGE });
    const thread = await call('POST', '/v1/threads', ws.owner, { environment_id: env.json.id });
    const turn = () => call('POST', `/v1/threads/${thread.json.id}/turns`, ws.owner, { commands: [{ argv: ['true'] }] });

    const noRequirement = await turn();
    assert.equal((await jobOf(noRequirement.json.id)).workspace_retention_ms, undefined);
    // Above the cluster's: no effect.
    assert.equal((await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, { workspace_retention_ms: CLUSTER_RETENTION_MS * 2 })).status, 200);
    const higher = await turn();
    assert.equal((await jobOf(higher.json.id)).workspace_retention_ms, undefined);
    assert.equal((await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, { workspace_retention_ms: 60_000 })).status, 200);
    const lower = await turn();
    assert.equal((await jobOf(lower.json.id)).workspace_retention_ms, 60_000);
    // Below the schema's floor: refused, naming the key.
    const tooLow = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, { workspace_retention_ms: 10 });
    assert.equal(tooLow.status, 400, tooLow.body);
    assert.match(tooLow.body, /workspace_retention_ms/);

    // The worker records the lowered retention on the sandbox; the thread's view uses it.
    const sandboxId = `sbx-retain-${Date.now()}`;
    const lastUsedAt = 1_700_000_000_000;
    await redis.client().set(sandboxKeys.threadSandbox(ws.id, thread.json.id), sandboxId);
    await redis.client().hset(sandboxKeys.sandbox(sandboxId), { state: 'stopped', lastUsedAt: String(lastUsedAt), retentionMs: '60000' });
    const settings = { workspaceRetentionMs: CLUSTER_RETENTION_MS, sandboxIdleTtlMs: 1000 };
    assert.equal((await sandboxView(redis.client(), settings, ws.id, thread.json.id)).expires_at, new Date(lastUsedAt + 60_000).toISOString());
    await redis.client().hdel(sandboxKeys.sandbox(sandboxId), 'retentionMs');
    assert.equal(
      (await sandboxView(redis.client(), settings, ws.id, thread.json.id)).expires_at,
      new Date(lastUsedAt + CLUSTER_RETENTION_MS).toISOString(),
    );
  });

  test('only an admin sets it', async () => {
    const ws = await newWorkspace(call, 'retain-role');
    const invite = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, { email: 'm@retain-role.test', role: 'member', can_create_tokens: false });
    assert.equal(invite.status, 201, invite.body);
    const memberToken = invite.json.access_token.secret as string;
    const put = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, memberToken, { workspace_retention_ms: 60_000 });
    assert.equal(put.status, 403, put.body);
  });
});
