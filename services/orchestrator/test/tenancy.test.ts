// Tenancy against a real Redis: workspaces, members, access tokens, requirements, audit log,
// authorization refusals, and the limits (body size, rate, page size).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, captureLogs, newWorkspace, OPERATOR_KEY, start } from './helpers.ts';

const DAY_MS = 86_400_000;
let redis: RedisServer;
let orch: Orchestrator;
let clockMs = Date.now();
const logs = captureLogs();
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true });
  orch = await start(redis.url, { now: () => clockMs, logger: logs.logger, dispatch: false });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

describe('workspaces', () => {
  test('the operator key creates a workspace and shows its owner token once', async () => {
    const r = await call('POST', '/v1/workspaces', OPERATOR_KEY, { name: 'w1', owner_email: 'Boss@W1.test' });
    assert.equal(r.status, 201);
    assert.match(r.json.workspace.id, /^ws_/);
    assert.match(r.json.owner_token.secret, /^pdk\.tok_/);
    assert.equal(r.json.owner_token.member_email, 'boss@w1.test');
    const me = await call(
      'GET',
      `/v1/workspaces/${r.json.workspace.id}/access-tokens`,
      r.json.owner_token.secret,
    );
    assert.equal(me.status, 200);
  });

  test('without the operator key, or with a tenant token, workspace creation is 401', async () => {
    const ws = await newWorkspace(call, 'w2');
    for (const token of [undefined, 'wrong-key', ws.owner]) {
      const r = await call('POST', '/v1/workspaces', token, { name: 'x', owner_email: 'a@b.test' });
      assert.equal(r.status, 401, `token ${token}`);
      assert.equal(r.json.error.code, 'unauthorized');
    }
  });

  test('bad bodies are 400 naming the field: bad JSON, missing field, wrong type, unknown key', async () => {
    const bad = await orch.app.inject({
      method: 'POST',
      url: '/v1/workspaces',
      headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'invalid_request');
    const missing = await call('POST', '/v1/workspaces', OPERATOR_KEY, { name: 'x' });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.field, 'owner_email');
    const wrongType = await call('POST', '/v1/workspaces', OPERATOR_KEY, {
      name: 5,
      owner_email: 'a@b.test',
    });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.json.error.field, 'name');
    const notEmail = await call('POST', '/v1/workspaces', OPERATOR_KEY, { name: 'x', owner_email: 'nope' });
    assert.equal(notEmail.status, 400);
    assert.equal(notEmail.json.error.field, 'owner_email');
  });

  test('an oversize body is 413 with a JSON error', async () => {
    const r = await call('POST', '/v1/workspaces', OPERATOR_KEY, {
      name: 'x'.repeat(orch.app.initialConfig.bodyLimit ?? 1_048_576),
      owner_email: 'a@b.test',
    });
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, 'body_too_large');
  });
});

describe('members and access tokens', () => {
  test('owners add members; members cannot; each new member gets a first token once', async () => {
    const ws = await newWorkspace(call, 'm1');
    const add = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'dev@m1.test',
      role: 'member',
      can_create_tokens: false,
    });
    assert.equal(add.status, 201);
    assert.equal(add.json.member.role, 'member');
    const devToken = add.json.access_token.secret as string;
    const again = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'dev@m1.test',
      role: 'admin',
      can_create_tokens: true,
    });
    assert.equal(again.status, 409);
    const byMember = await call('POST', `/v1/workspaces/${ws.id}/members`, devToken, {
      email: 'x@m1.test',
      role: 'member',
      can_create_tokens: false,
    });
    assert.equal(byMember.status, 403);
    const badRole = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'y@m1.test',
      role: 'king',
      can_create_tokens: false,
    });
    assert.equal(badRole.status, 400);
    assert.equal(badRole.json.error.field, 'role');
  });

  test('an admin cannot add an owner', async () => {
    const ws = await newWorkspace(call, 'm2');
    const admin = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'admin@m2.test',
      role: 'admin',
      can_create_tokens: true,
    });
    const r = await call('POST', `/v1/workspaces/${ws.id}/members`, admin.json.access_token.secret, {
      email: 'o2@m2.test',
      role: 'owner',
      can_create_tokens: true,
    });
    assert.equal(r.status, 403);
  });

  test('a member without the token permission cannot create a token; with it, can', async () => {
    const ws = await newWorkspace(call, 't1');
    const noPerm = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'np@t1.test',
      role: 'member',
      can_create_tokens: false,
    });
    const r = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, noPerm.json.access_token.secret, {
      name: 'ci',
      expires_in_days: 30,
    });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'forbidden');
    const withPerm = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'wp@t1.test',
      role: 'member',
      can_create_tokens: true,
    });
    const ok = await call(
      'POST',
      `/v1/workspaces/${ws.id}/access-tokens`,
      withPerm.json.access_token.secret,
      {
        name: 'ci',
        expires_in_days: 30,
      },
    );
    assert.equal(ok.status, 201);
    assert.equal(ok.json.member_email, 'wp@t1.test');
  });

  test('expires_in_days must be >= 1 or null', async () => {
    const ws = await newWorkspace(call, 't2');
    for (const bad of [0, -1, 1.5, '3']) {
      const r = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
        name: 'x',
        expires_in_days: bad,
      });
      assert.equal(r.status, 400, `expires_in_days ${bad}`);
      assert.equal(r.json.error.field, 'expires_in_days');
    }
    const missing = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, { name: 'x' });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.field, 'expires_in_days');
    const forever = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
      name: 'x',
      expires_in_days: null,
    });
    assert.equal(forever.status, 201);
    assert.equal(forever.json.expires_at, null);
  });

  test('the secret is shown once: absent from the list, the logs and Redis', async () => {
    const ws = await newWorkspace(call, 't3');
    const created = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
      name: 'deploy',
      expires_in_days: 7,
    });
    const secret = created.json.secret as string;
    // The token works (so it is used in a logged request), then look everywhere for it.
    const list = await call('GET', `/v1/workspaces/${ws.id}/access-tokens`, secret);
    assert.equal(list.status, 200);
    assert.ok(list.json.items.some((t: { id: string }) => t.id === created.json.id));
    assert.ok(!list.body.includes(secret));
    assert.ok(list.json.items.every((t: object) => !('secret' in t) && !('hash' in t)));
    assert.ok(logs.text().length > 0, 'the logger wrote request lines');
    assert.ok(!logs.text().includes(secret), 'secret in logs');
    assert.ok(!logs.text().includes(ws.owner), 'owner secret in logs');
    const c = redis.client();
    const secretPart = secret.split('.')[2]!;
    for (const key of await c.keys('*')) {
      const type = await c.type(key);
      const dump =
        type === 'string'
          ? await c.get(key)
          : type === 'hash'
            ? JSON.stringify(await c.hgetall(key))
            : type === 'zset'
              ? JSON.stringify(await c.zrange(key, '0', '-1'))
              : type === 'stream'
                ? JSON.stringify(await c.xrange(key, '-', '+'))
                : type === 'list'
                  ? JSON.stringify(await c.lrange(key, 0, -1))
                  : '';
      assert.ok(!dump?.includes(secretPart), `secret stored in ${key}`);
    }
  });

  test('revocation is immediate; an expired token is 401', async () => {
    const ws = await newWorkspace(call, 't4');
    const t = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
      name: 'short',
      expires_in_days: 1,
    });
    const secret = t.json.secret as string;
    assert.equal((await call('GET', '/v1/environments', secret)).status, 200);
    clockMs += DAY_MS + 1000;
    try {
      const expired = await call('GET', '/v1/environments', secret);
      assert.equal(expired.status, 401);
      assert.match(expired.json.error.message, /expired/);
    } finally {
      clockMs -= DAY_MS + 1000;
    }
    const del = await call('DELETE', `/v1/workspaces/${ws.id}/access-tokens/${t.json.id}`, ws.owner);
    assert.equal(del.status, 200);
    assert.ok(del.json.revoked_at);
    const revoked = await call('GET', '/v1/environments', secret);
    assert.equal(revoked.status, 401);
    assert.match(revoked.json.error.message, /revoked/);
    const tampered = await call('GET', '/v1/environments', `${secret.slice(0, -2)}xx`);
    assert.equal(tampered.status, 401);
  });

  test("members list only their own tokens and cannot revoke another member's", async () => {
    const ws = await newWorkspace(call, 't5');
    const a = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'a@t5.test',
      role: 'member',
      can_create_tokens: true,
    });
    const b = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'b@t5.test',
      role: 'member',
      can_create_tokens: true,
    });
    const aSecret = a.json.access_token.secret as string;
    const listA = await call('GET', `/v1/workspaces/${ws.id}/access-tokens`, aSecret);
    assert.deepEqual(
      listA.json.items.map((t: { member_email: string }) => t.member_email),
      ['a@t5.test'],
    );
    const listOwner = await call('GET', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner);
    assert.equal(listOwner.json.items.length, 3);
    const revokeB = await call(
      'DELETE',
      `/v1/workspaces/${ws.id}/access-tokens/${b.json.access_token.id}`,
      aSecret,
    );
    assert.equal(revokeB.status, 403);
    const stillB = await call('GET', '/v1/environments', b.json.access_token.secret);
    assert.equal(stillB.status, 200);
    const own = await call(
      'DELETE',
      `/v1/workspaces/${ws.id}/access-tokens/${a.json.access_token.id}`,
      aSecret,
    );
    assert.equal(own.status, 200);
    const byOwner = await call(
      'DELETE',
      `/v1/workspaces/${ws.id}/access-tokens/${b.json.access_token.id}`,
      ws.owner,
    );
    assert.equal(byOwner.status, 200);
    const unknown = await call('DELETE', `/v1/workspaces/${ws.id}/access-tokens/tok_nope`, ws.owner);
    assert.equal(unknown.status, 404);
  });

  test("another tenant's workspace and tokens answer 404", async () => {
    const one = await newWorkspace(call, 'x1');
    const two = await newWorkspace(call, 'x2');
    const list = await call('GET', `/v1/workspaces/${two.id}/access-tokens`, one.owner);
    assert.equal(list.status, 404);
    const twoTokens = await call('GET', `/v1/workspaces/${two.id}/access-tokens`, two.owner);
    const twoTokenId = twoTokens.json.items[0].id as string;
    const del = await call('DELETE', `/v1/workspaces/${one.id}/access-tokens/${twoTokenId}`, one.owner);
    assert.equal(del.status, 404);
    const req = await call('GET', `/v1/workspaces/${two.id}/requirements`, one.owner);
    assert.equal(req.status, 404);
  });

  test('token list pages are capped and follow the cursor', async () => {
    const ws = await newWorkspace(call, 'p1');
    for (let i = 0; i < 4; i++) {
      await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
        name: `t${i}`,
        expires_in_days: null,
      });
    }
    const p1 = await call('GET', `/v1/workspaces/${ws.id}/access-tokens?limit=2`, ws.owner);
    assert.equal(p1.json.items.length, 2);
    const p2 = await call(
      'GET',
      `/v1/workspaces/${ws.id}/access-tokens?limit=2&cursor=${p1.json.next_cursor}`,
      ws.owner,
    );
    const p3 = await call(
      'GET',
      `/v1/workspaces/${ws.id}/access-tokens?limit=2&cursor=${p2.json.next_cursor}`,
      ws.owner,
    );
    assert.equal(p3.json.next_cursor, null);
    const ids = [...p1.json.items, ...p2.json.items, ...p3.json.items].map((t: { id: string }) => t.id);
    assert.equal(new Set(ids).size, 5);
    const tooBig = await call('GET', `/v1/workspaces/${ws.id}/access-tokens?limit=100000`, ws.owner);
    assert.equal(tooBig.status, 400);
    assert.equal(tooBig.json.error.field, 'limit');
    const badCursor = await call('GET', `/v1/workspaces/${ws.id}/access-tokens?cursor=zzz`, ws.owner);
    assert.equal(badCursor.status, 400);
  });
});

describe('requirements and audit', () => {
  test('owners and admins read and write requirements as JSON or TOML; members get 403', async () => {
    const ws = await newWorkspace(call, 'r1');
    const toml = await orch.app.inject({
      method: 'PUT',
      url: `/v1/workspaces/${ws.id}/requirements`,
      headers: { authorization: `Bearer ${ws.owner}`, 'content-type': 'application/toml' },
      payload: 'allowed_sandbox_modes = ["read-only"]\n',
    });
    assert.equal(toml.statusCode, 200, toml.body);
    assert.deepEqual((await call('GET', `/v1/workspaces/${ws.id}/requirements`, ws.owner)).json, {
      allowed_sandbox_modes: ['read-only'],
    });
    const badKey = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, {
      allowed_modes: ['x'],
    });
    assert.equal(badKey.status, 400);
    assert.equal(badKey.json.error.field, 'allowed_modes');
    const badToml = await orch.app.inject({
      method: 'PUT',
      url: `/v1/workspaces/${ws.id}/requirements`,
      headers: { authorization: `Bearer ${ws.owner}`, 'content-type': 'application/toml' },
      payload: 'allowed_sandbox_modes = [',
    });
    assert.equal(badToml.statusCode, 400);
    const member = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'm@r1.test',
      role: 'member',
      can_create_tokens: false,
    });
    const secret = member.json.access_token.secret as string;
    assert.equal((await call('GET', `/v1/workspaces/${ws.id}/requirements`, secret)).status, 403);
    assert.equal((await call('PUT', `/v1/workspaces/${ws.id}/requirements`, secret, {})).status, 403);
    assert.equal((await call('GET', `/v1/workspaces/${ws.id}/audit-log`, secret)).status, 403);
  });

  test('the audit log records token creation and revocation with the actor, by time range and cursor', async () => {
    const ws = await newWorkspace(call, 'a1');
    const t = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
      name: 'n',
      expires_in_days: 2,
    });
    await call('DELETE', `/v1/workspaces/${ws.id}/access-tokens/${t.json.id}`, ws.owner);
    const all: { action: string; actor: string; target: string; at: string }[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const r = await call('GET', `/v1/workspaces/${ws.id}/audit-log${q}`, ws.owner);
      assert.equal(r.status, 200);
      all.push(...r.json.items);
      cursor = r.json.next_cursor;
      if (!cursor) break;
    }
    const created = all.find((e) => e.action === 'token.created' && e.target === t.json.id);
    const revoked = all.find((e) => e.action === 'token.revoked' && e.target === t.json.id);
    assert.equal(created?.actor, 'owner@a1.test');
    assert.equal(revoked?.actor, 'owner@a1.test');
    const future = new Date(Date.now() + DAY_MS).toISOString();
    const none = await call(
      'GET',
      `/v1/workspaces/${ws.id}/audit-log?from=${encodeURIComponent(future)}`,
      ws.owner,
    );
    assert.deepEqual(none.json.items, []);
    const until = await call(
      'GET',
      `/v1/workspaces/${ws.id}/audit-log?to=${encodeURIComponent(created!.at)}&limit=100`,
      ws.owner,
    );
    assert.ok(until.json.items.every((e: { at: string }) => e.at <= created!.at));
    assert.ok(!until.json.items.some((e: { action: string }) => e.action === 'token.revoked'));
    const badFrom = await call('GET', `/v1/workspaces/${ws.id}/audit-log?from=yesterday`, ws.owner);
    assert.equal(badFrom.status, 400);
  });
});

describe('documentation', () => {
  test('OpenAPI lists every /v1 route with its schemas; /docs is browsable', async () => {
    const spec = await call('GET', '/openapi.json');
    assert.equal(spec.status, 200);
    const paths = Object.keys(spec.json.paths);
    for (const p of [
      '/v1/workspaces',
      '/v1/workspaces/{ws}/members',
      '/v1/workspaces/{ws}/access-tokens',
      '/v1/workspaces/{ws}/access-tokens/{id}',
      '/v1/workspaces/{ws}/requirements',
      '/v1/workspaces/{ws}/audit-log',
      '/v1/workspaces/{ws}/audit-log/export',
      '/v1/environments',
      '/v1/environments/{id}',
      '/v1/threads',
      '/v1/threads/{id}',
      '/v1/threads/{id}/turns',
      '/v1/threads/{id}/turns/{turn_id}',
      '/v1/threads/{id}/turns/{turn_id}/interrupt',
      '/v1/threads/{id}/events',
      '/v1/threads/{id}/approvals',
      '/v1/approvals/{id}',
      '/v1/threads/{id}/denials',
      '/v1/threads/{id}/denials/{denial_id}/approve',
    ]) {
      assert.ok(paths.includes(p), `missing ${p}`);
    }
    const create = spec.json.paths['/v1/workspaces/{ws}/access-tokens'].post;
    assert.ok(create.requestBody.content['application/json'].schema.properties.expires_in_days);
    const docs = await call('GET', '/docs');
    assert.equal(docs.status, 200);
    assert.match(docs.headers['content-type'] as string, /text\/html/);
  });
});

describe('rate limit', () => {
  test('past the per-token rate the API answers 429 with Retry-After and the RateLimit headers', async () => {
    const limited = await start(redis.url, {
      settings: { rateLimit: { requests: 3, windowMs: 60_000, workspaceRequests: 1000, anonymousRequests: 1000 } },
      dispatch: false,
    });
    try {
      const lcall = api(() => limited);
      const ws = await newWorkspace(lcall, 'rl');
      const statuses: number[] = [];
      const remaining: unknown[] = [];
      let refused: Awaited<ReturnType<typeof lcall>> | undefined;
      for (let i = 0; i < 5; i++) {
        const r = await lcall('GET', '/v1/environments', ws.owner);
        statuses.push(r.status);
        remaining.push(r.headers['ratelimit-remaining']);
        if (r.status === 429) refused ??= r;
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      assert.deepEqual(remaining, ['2', '1', '0', '0', '0']);
      assert.ok(refused);
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
      assert.equal(refused.headers['x-ratelimit-limit'], '3');
      assert.equal(refused.headers['ratelimit-limit'], '3');
      assert.equal(refused.json.error.code, 'rate_limited');
      assert.match(refused.json.error.message, /requests \(per token\)/);
    } finally {
      await limited.close();
    }
  });

  test('the workspace limit counts all its tokens together: a fresh token buys no rate', async () => {
    const limited = await start(redis.url, {
      settings: { rateLimit: { requests: 100, windowMs: 60_000, workspaceRequests: 4, anonymousRequests: 1000 } },
      dispatch: false,
    });
    try {
      const lcall = api(() => limited);
      const ws = await newWorkspace(lcall, 'rlws');
      const minted = await lcall('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, { name: 'second', expires_in_days: 30 });
      assert.equal(minted.status, 201, minted.body);
      const second = minted.json.secret as string;
      const statuses = [];
      for (const token of [ws.owner, second, second, ws.owner]) statuses.push((await lcall('GET', '/v1/environments', token)).status);
      // The mint itself was request 1 of 4.
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      const r = await lcall('GET', '/v1/environments', second);
      assert.equal(r.status, 429);
      assert.match(r.json.error.message, /workspace_requests/);
      // Another workspace is untouched.
      const other = await newWorkspace(lcall, 'rlws2');
      assert.equal((await lcall('GET', '/v1/environments', other.owner)).status, 200);
    } finally {
      await limited.close();
    }
  });

  test('calls without a valid token are limited per client address', async () => {
    const limited = await start(redis.url, {
      settings: { rateLimit: { requests: 100, windowMs: 60_000, workspaceRequests: 1000, anonymousRequests: 3 } },
      dispatch: false,
    });
    try {
      // An address of its own: the other tests' refused calls share this Redis.
      const from = (remoteAddress: string, token?: string) =>
        limited.app.inject({
          method: 'GET',
          url: '/v1/environments',
          remoteAddress,
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await from('198.51.100.7', `pdk.tok_guess${i}`)).statusCode);
      assert.deepEqual(statuses, [401, 401, 401, 429]);
      const r = await from('198.51.100.7');
      assert.equal(r.statusCode, 429);
      assert.ok(Number(r.headers['retry-after']) >= 1);
      assert.match(r.json().error.message, /per client address/);
      // Another address still gets its own answer.
      assert.equal((await from('198.51.100.8')).statusCode, 401);
    } finally {
      await limited.close();
    }
  });
});
