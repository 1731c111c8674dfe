// Environments, threads, config resolution against requirements, approvals and denials, and
// tenant isolation of every id, against a real Redis.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApprovalRequest, recordDenial, takeOverride, waitForDecision } from '@paddock/turn-queue';
import { keys } from '@paddock/contracts';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true });
  orch = await start(redis.url, {
    dispatch: false,
    clusterFile: {
      model: 'cluster-model',
      requirements: { allowed_approval_policies: ['on-request', 'untrusted'] },
    },
  });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

describe('environments', () => {
  test('create, read, list; bad TOML config is 400 naming the key', async () => {
    const ws = await newWorkspace(call, 'e1');
    const r = await call('POST', '/v1/environments', ws.owner, {
      name: 'node',
      image: 'paddock/sandbox-base:latest',
      setup_script: 'npm ci',
      config: 'sandbox_mode = "read-only"\n',
    });
    assert.equal(r.status, 201);
    const got = await call('GET', `/v1/environments/${r.json.id}`, ws.owner);
    assert.equal(got.json.setup_script, 'npm ci');
    const list = await call('GET', '/v1/environments', ws.owner);
    assert.deepEqual(
      list.json.items.map((e: { id: string }) => e.id),
      [r.json.id],
    );
    const bad = await call('POST', '/v1/environments', ws.owner, {
      name: 'x',
      image: 'paddock/sandbox-base:latest',
      config: 'sandbox_mode = "wide-open"\n',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.field, 'sandbox_mode');
    const typo = await call('POST', '/v1/environments', ws.owner, {
      name: 'x',
      image: 'paddock/sandbox-base:latest',
      config: 'sandbox_mod = "read-only"',
    });
    assert.equal(typo.status, 400);
    assert.match(typo.json.error.message, /did you mean "sandbox_mode"/);
    const missing = await call('POST', '/v1/environments', ws.owner, { name: 'x' });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.field, 'image');
    assert.equal((await call('GET', '/v1/environments/env_nope', ws.owner)).status, 404);
  });
});

describe('threads and config resolution', () => {
  test('a thread resolves cluster < environment < thread, and a turn may override within requirements', async () => {
    const ws = await newWorkspace(call, 'c1');
    const env = await call('POST', '/v1/environments', ws.owner, {
      name: 'e',
      image: 'paddock/sandbox-base:latest',
      config: 'sandbox_mode = "read-only"\napproval_policy = "untrusted"\n',
    });
    const thr = await call('POST', '/v1/threads', ws.owner, {
      environment_id: env.json.id,
      config: { approval_policy: 'on-request' },
    });
    assert.equal(thr.status, 201);
    assert.equal(thr.json.effective_config.model, 'cluster-model');
    assert.equal(thr.json.effective_config.sandbox_mode, 'read-only');
    assert.equal(thr.json.effective_config.approval_policy, 'on-request');
    const tomlThread = await call('POST', '/v1/threads', ws.owner, {
      environment_id: env.json.id,
      config: 'model = "toml-model"\n',
    });
    assert.equal(tomlThread.json.effective_config.model, 'toml-model');
    const turn = await call('POST', `/v1/threads/${thr.json.id}/turns`, ws.owner, {
      input: 'x',
      config: { model: 'turn-model' },
    });
    assert.equal(turn.status, 202);
    const got = await call('GET', `/v1/threads/${thr.json.id}/turns/${turn.json.id}`, ws.owner);
    assert.equal(got.json.model, 'turn-model');
  });

  test("requirements refuse a thread's and a turn's config with a 400 naming the key and the constraint", async () => {
    const ws = await newWorkspace(call, 'c2');
    const put = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, {
      allowed_sandbox_modes: ['read-only', 'workspace-write'],
    });
    assert.equal(put.status, 200);
    const { envId, threadId } = await newThread(call, ws.owner);
    const thr = await call('POST', '/v1/threads', ws.owner, {
      environment_id: envId,
      config: { sandbox_mode: 'danger-full-access' },
    });
    assert.equal(thr.status, 400);
    assert.equal(thr.json.error.code, 'config_not_allowed');
    assert.equal(thr.json.error.field, 'sandbox_mode');
    assert.match(thr.json.error.message, /allowed_sandbox_modes/);
    const clusterRefusal = await call('POST', '/v1/threads', ws.owner, {
      environment_id: envId,
      config: { approval_policy: 'never' },
    });
    assert.equal(clusterRefusal.status, 400);
    assert.match(clusterRefusal.json.error.message, /allowed_approval_policies/);
    const turn = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, {
      input: 'x',
      config: 'sandbox_mode = "danger-full-access"',
    });
    assert.equal(turn.status, 400);
    assert.equal(turn.json.error.field, 'sandbox_mode');
    const noFit = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, {
      allowed_approval_policies: ['never'],
    });
    assert.equal(noFit.status, 400);
    assert.equal(noFit.json.error.field, 'allowed_approval_policies');
  });

  test("another tenant's thread, environment and turn ids answer 404", async () => {
    const a = await newWorkspace(call, 'iso-a');
    const b = await newWorkspace(call, 'iso-b');
    const { envId, threadId } = await newThread(call, b.owner);
    const turn = await call('POST', `/v1/threads/${threadId}/turns`, b.owner, { input: 'secret work' });
    const paths: ['GET' | 'POST' | 'DELETE', string, unknown?][] = [
      ['GET', `/v1/environments/${envId}`],
      ['GET', `/v1/threads/${threadId}`],
      ['DELETE', `/v1/threads/${threadId}`],
      ['POST', `/v1/threads/${threadId}/turns`, { input: 'x' }],
      ['GET', `/v1/threads/${threadId}/turns/${turn.json.id}`],
      ['POST', `/v1/threads/${threadId}/turns/${turn.json.id}/interrupt`],
      ['GET', `/v1/threads/${threadId}/events?format=jsonl`],
      ['GET', `/v1/threads/${threadId}/approvals`],
      ['GET', `/v1/threads/${threadId}/denials`],
    ];
    for (const [method, path, body] of paths) {
      const r = await call(method, path, a.owner, body);
      assert.equal(r.status, 404, `${method} ${path}`);
    }
    const members = await call('POST', `/v1/workspaces/${b.id}/members`, a.owner, {
      email: 'intruder@a.test',
      role: 'owner',
      can_create_tokens: true,
    });
    assert.equal(members.status, 404);
    const thread = await call('POST', '/v1/threads', a.owner, { environment_id: envId });
    assert.equal(thread.status, 404);
    assert.equal(thread.json.error.field, 'environment_id');
    assert.equal((await call('GET', `/v1/threads/${threadId}`, b.owner)).json.status, 'active');
  });

  test('no token is 401 on every API route', async () => {
    for (const [method, path] of [
      ['GET', '/v1/environments'],
      ['POST', '/v1/threads'],
      ['GET', '/v1/threads/thr_x'],
      ['POST', '/v1/approvals/apr_x'],
    ] as const) {
      assert.equal((await call(method, path)).status, 401, `${method} ${path}`);
    }
  });
});

describe('approvals and denials', () => {
  test('a pending approval is listed, decided once, and the decision reaches the worker', async () => {
    const ws = await newWorkspace(call, 'ap1');
    const { threadId } = await newThread(call, ws.owner);
    const c = redis.client();
    const action = { type: 'exec', argv: ['curl', 'http://127.0.0.1:9'], cwd: '/workspace' };
    const req = await createApprovalRequest(c, {
      threadId,
      turnId: 'turn_x',
      workspaceId: ws.id,
      action,
      reason: 'network blocked',
    });
    const pending = await call('GET', `/v1/threads/${threadId}/approvals?status=pending`, ws.owner);
    assert.deepEqual(
      pending.json.items.map((a: { id: string }) => a.id),
      [req.id],
    );
    const badDecision = await call('POST', `/v1/approvals/${req.id}`, ws.owner, { decision: 'maybe' });
    assert.equal(badDecision.status, 400);
    assert.equal(badDecision.json.error.field, 'decision');
    const other = await newWorkspace(call, 'ap1-other');
    assert.equal(
      (await call('POST', `/v1/approvals/${req.id}`, other.owner, { decision: 'approve' })).status,
      404,
    );
    const ok = await call('POST', `/v1/approvals/${req.id}`, ws.owner, { decision: 'approve_for_thread' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.status, 'approved');
    assert.equal(await waitForDecision(c, req.id, 1000), 'approve_for_thread');
    const again = await call('POST', `/v1/approvals/${req.id}`, ws.owner, { decision: 'deny' });
    assert.equal(again.status, 409);
    const none = await call('GET', `/v1/threads/${threadId}/approvals?status=pending`, ws.owner);
    assert.deepEqual(none.json.items, []);
    assert.equal((await call('POST', '/v1/approvals/apr_nope', ws.owner, { decision: 'deny' })).status, 404);
  });

  test('the last 10 denials are listed; approving one grants exactly one retry of that action', async () => {
    const ws = await newWorkspace(call, 'dn1');
    const { threadId } = await newThread(call, ws.owner);
    const c = redis.client();
    const denials = [];
    for (let i = 0; i < 12; i++) {
      denials.push(
        await recordDenial(c, {
          thread_id: threadId,
          turn_id: 'turn_x',
          action: { type: 'exec', argv: ['rm', `/data/${i}`], cwd: '/workspace' },
          rationale: 'destructive',
          source: 'guardian',
        }),
      );
    }
    const list = await call('GET', `/v1/threads/${threadId}/denials`, ws.owner);
    assert.equal(list.json.items.length, 10);
    assert.equal(list.json.items[0].id, denials[11]!.id);
    const dropped = await call('POST', `/v1/threads/${threadId}/denials/${denials[0]!.id}/approve`, ws.owner);
    assert.equal(dropped.status, 404);
    const target = denials[5]!;
    const ok = await call('POST', `/v1/threads/${threadId}/denials/${target.id}/approve`, ws.owner);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.override.approved_by, 'owner@dn1.test');
    const twice = await call('POST', `/v1/threads/${threadId}/denials/${target.id}/approve`, ws.owner);
    assert.equal(twice.status, 409);
    assert.equal(await takeOverride(c, threadId, { ...target.action }), target.id);
    assert.equal(await takeOverride(c, threadId, target.action), undefined, 'a second retry');
    assert.equal(await takeOverride(c, threadId, denials[6]!.action), undefined, 'another action');
    assert.equal(await c.exists(keys.overrides(threadId)), 0);
  });
});
