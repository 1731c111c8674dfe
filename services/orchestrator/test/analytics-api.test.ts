// The analytics API against a real Redis, through the app (inject): buckets seeded with the contract's
// own write functions (what the worker, guardian and approvals call), read back as page objects. Day
// and week edges, the inclusive/exclusive range, per-user vs workspace rows, the per-client breakdown,
// cursor pages while turns arrive, the 90-day window, limit bounds, token scopes on every route, the
// analytics viewer permission, and another workspace's id.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, recordApproval, recordReview, recordTurnUsage } from '@paddock/contracts';
import { type RedisServer, startRedis } from '@paddock/testing';
import { Redis } from 'ioredis';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newWorkspace, start } from './helpers.ts';

const MAX_PAGE = 50;
const DAY_S = 86_400;
// Wednesday 2026-11-25 12:00 UTC: the server's clock for the whole file.
const NOW_MS = Date.UTC(2026, 10, 25, 12);
const NOW_S = NOW_MS / 1000;
const MON = Date.UTC(2026, 10, 23) / 1000; // Monday 2026-11-23 00:00 UTC
let redis: RedisServer;
let writer: Redis;
let orch: Orchestrator;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true });
  writer = new Redis(redis.url);
  orch = await start(redis.url, { now: () => NOW_MS, dispatch: false, settings: { maxPageSize: MAX_PAGE } });
});
after(async () => {
  await orch?.close();
  writer?.disconnect();
  await redis?.stop();
});

let turnSeq = 0;
async function turn(
  ws: string,
  o: { member: string; atS: number; client?: Client; thread?: string; input?: number; cached?: number; output?: number },
) {
  const counted = await recordTurnUsage(writer, {
    workspaceId: ws,
    threadId: o.thread ?? 'thr_1',
    turnId: `turn_${process.pid}_${++turnSeq}`,
    member: o.member,
    client: o.client ?? 'api',
    endedAtMs: o.atS * 1000,
    metrics: {
      input_tokens: o.input ?? 100,
      cached_input_tokens: o.cached ?? 40,
      output_tokens: o.output ?? 10,
      credits_micro: 1_500_000,
      sandbox_wall_ms: 2_000,
      sandbox_cpu_ms: 500,
      egress_bytes: 1_000,
    },
  });
  assert.equal(counted, true);
}

const usageUrl = (ws: string, q: Record<string, string | number>) =>
  `/v1/analytics/workspaces/${ws}/usage?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)] as [string, string]))}`;

async function usage(ws: string, token: string, q: Record<string, string | number>) {
  const r = await call('GET', usageUrl(ws, q), token);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.object, 'page');
  return r.json;
}

async function addMember(ws: { id: string; owner: string }, email: string, role: string, extra = {}) {
  const r = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
    email,
    role,
    can_create_tokens: true,
    ...extra,
  });
  assert.equal(r.status, 201, r.body);
  return r.json.access_token.secret as string;
}

describe('buckets', () => {
  test('a turn at 23:59:59 UTC and one at 00:00:00 land in different days', async () => {
    const ws = await newWorkspace(call, 'edge');
    await turn(ws.id, { member: 'a@edge.test', atS: MON + DAY_S - 1 });
    await turn(ws.id, { member: 'a@edge.test', atS: MON + DAY_S });
    const p = await usage(ws.id, ws.owner, { start_time: MON, end_time: MON + 2 * DAY_S });
    assert.deepEqual(
      p.data.map((r: { start_time: number; end_time: number; turns: number }) => [r.start_time, r.end_time, r.turns]),
      [
        [MON, MON + DAY_S, 1],
        [MON + DAY_S, MON + 2 * DAY_S, 1],
      ],
    );
    assert.equal(p.has_more, false);
    assert.equal(p.next_page, null);
  });

  test('weeks start on Monday 00:00 UTC: Sunday 23:59:59 and Monday 00:00 are different weeks', async () => {
    const ws = await newWorkspace(call, 'week');
    await turn(ws.id, { member: 'a@week.test', atS: MON - 1 }); // Sunday 23:59:59
    await turn(ws.id, { member: 'a@week.test', atS: MON }); // Monday 00:00
    await turn(ws.id, { member: 'a@week.test', atS: MON + 2 * DAY_S + 3600 }); // Wednesday
    const p = await usage(ws.id, ws.owner, { start_time: MON - 7 * DAY_S, end_time: NOW_S, group_by: 'week' });
    assert.deepEqual(
      p.data.map((r: { start_time: number; end_time: number; turns: number }) => [r.start_time, r.end_time, r.turns]),
      [
        [MON - 7 * DAY_S, MON, 1],
        [MON, MON + 7 * DAY_S, 2],
      ],
    );
  });

  test('start_time is inclusive and end_time exclusive', async () => {
    const ws = await newWorkspace(call, 'range');
    await turn(ws.id, { member: 'a@range.test', atS: MON - 1 });
    await turn(ws.id, { member: 'a@range.test', atS: MON });
    await turn(ws.id, { member: 'a@range.test', atS: MON + DAY_S });
    const p = await usage(ws.id, ws.owner, { start_time: MON, end_time: MON + DAY_S });
    assert.deepEqual(
      p.data.map((r: { start_time: number }) => r.start_time),
      [MON],
    );
    // end_time defaults to now: every day up to today.
    const open = await usage(ws.id, ws.owner, { start_time: MON });
    assert.deepEqual(
      open.data.map((r: { start_time: number }) => r.start_time),
      [MON, MON + DAY_S],
    );
  });
});

describe('rows', () => {
  test('per-user rows by default, workspace rows with group=workspace, and a per-client breakdown', async () => {
    const ws = await newWorkspace(call, 'rows');
    await turn(ws.id, { member: 'b@rows.test', atS: MON + 10, client: 'cli', thread: 't1', input: 100, cached: 30 });
    await turn(ws.id, { member: 'b@rows.test', atS: MON + 20, client: 'api', thread: 't1', input: 50, cached: 0 });
    await turn(ws.id, { member: 'a@rows.test', atS: MON + 30, client: 'sdk', thread: 't2', output: 7 });
    const q = { start_time: MON, end_time: MON + DAY_S };
    const perUser = await usage(ws.id, ws.owner, q);
    assert.deepEqual(
      perUser.data.map((r: { user: string; turns: number; threads: number }) => [r.user, r.turns, r.threads]),
      [
        ['a@rows.test', 1, 1],
        ['b@rows.test', 2, 1],
      ],
    );
    const b = perUser.data[1];
    assert.equal(b.object, 'analytics.usage');
    assert.equal(b.input_tokens, 150);
    assert.equal(b.cached_input_tokens, 30);
    assert.equal(b.credits, 3);
    assert.equal(b.sandbox_seconds, 4);
    assert.equal(b.sandbox_cpu_seconds, 1);
    assert.equal(b.egress_bytes, 2000);
    assert.deepEqual(
      b.clients.map((c: { client: string; turns: number; input_tokens: number; threads: number }) => [
        c.client,
        c.turns,
        c.input_tokens,
        c.threads,
      ]),
      [
        ['api', 1, 50, 1],
        ['cli', 1, 100, 1],
      ],
    );
    const whole = await usage(ws.id, ws.owner, { ...q, group: 'workspace' });
    assert.equal(whole.data.length, 1);
    const w = whole.data[0];
    assert.equal('user' in w, false);
    assert.equal(w.turns, 3);
    assert.equal(w.threads, 2);
    assert.equal(w.output_tokens, 27);
    assert.deepEqual(
      w.clients.map((c: { client: string }) => c.client),
      ['api', 'cli', 'sdk'],
    );
  });
});

describe('cursor pages', () => {
  test('pages neither skip nor repeat a row while new turns arrive', async () => {
    const ws = await newWorkspace(call, 'pages');
    // Five closed days with two users each, and today's row of one.
    for (let d = 0; d < 5; d++) {
      await turn(ws.id, { member: 'a@pages.test', atS: MON - 3 * DAY_S + d * DAY_S + 5 });
      await turn(ws.id, { member: 'c@pages.test', atS: MON - 3 * DAY_S + d * DAY_S + 6 });
    }
    await turn(ws.id, { member: 'm@pages.test', atS: NOW_S - 90 });
    const q = { start_time: MON - 3 * DAY_S, limit: 3 };
    const seen = [];
    let p = await usage(ws.id, ws.owner, q);
    seen.push(...p.data);
    assert.equal(p.data.length, 3);
    assert.equal(p.has_more, true);
    for (let i = 0; i < 20 && p.has_more; i++) {
      // Meanwhile: more usage in today's bucket, and a new member's row today that sorts before every
      // row of today seen so far (an offset cursor would then repeat a row).
      await turn(ws.id, { member: 'm@pages.test', atS: NOW_S - 60 });
      await turn(ws.id, { member: `k${99 - i}@pages.test`, atS: NOW_S - 30 });
      p = await usage(ws.id, ws.owner, { page: p.next_page, limit: 3 });
      seen.push(...p.data);
    }
    assert.equal(p.has_more, false);
    const key = (r: { start_time: number; user: string }) => `${r.start_time}|${r.user}`;
    const keys = seen.map(key);
    assert.equal(new Set(keys).size, keys.length, 'no row repeated');
    const oneShot = await usage(ws.id, ws.owner, { start_time: MON - 3 * DAY_S, end_time: NOW_S, limit: MAX_PAGE });
    const today = Math.floor(NOW_S / DAY_S) * DAY_S;
    const closed = (rows: { start_time: number }[]) => rows.filter((r) => r.start_time < today);
    assert.deepEqual(closed(seen), closed(oneShot.data), 'closed buckets: the pages equal a one-shot read');
    assert.equal(closed(seen).length, 10); // Fri 20th..Tue 24th, two users each
  });

  test('a cursor from another endpoint or query is refused naming page', async () => {
    const ws = await newWorkspace(call, 'curs');
    await turn(ws.id, { member: 'a@curs.test', atS: MON });
    await turn(ws.id, { member: 'b@curs.test', atS: MON });
    const p = await usage(ws.id, ws.owner, { start_time: MON, limit: 1 });
    assert.equal(p.has_more, true);
    const other = await call('GET', `/v1/analytics/workspaces/${ws.id}/reviews?page=${p.next_page}`, ws.owner);
    assert.equal(other.status, 400);
    assert.equal(other.json.error.field, 'page');
    const moved = await call('GET', usageUrl(ws.id, { page: p.next_page, start_time: MON - DAY_S }), ws.owner);
    assert.equal(moved.status, 400);
    assert.equal(moved.json.error.field, 'page');
    const junk = await call('GET', usageUrl(ws.id, { page: 'bm9wZQ' }), ws.owner);
    assert.equal(junk.status, 400);
    assert.equal(junk.json.error.field, 'page');
  });
});

describe('bounds', () => {
  test('start_time may look back 90 days, not one second more', async () => {
    const ws = await newWorkspace(call, 'ninety');
    const ok = await call('GET', usageUrl(ws.id, { start_time: NOW_S - 90 * DAY_S }), ws.owner);
    assert.equal(ok.status, 200, ok.body);
    for (const path of ['usage', 'reviews', 'approvals']) {
      const old = await call(
        'GET',
        `/v1/analytics/workspaces/${ws.id}/${path}?start_time=${NOW_S - 90 * DAY_S - 1}`,
        ws.owner,
      );
      assert.equal(old.status, 400, path);
      assert.equal(old.json.error.field, 'start_time');
    }
    const missing = await call('GET', `/v1/analytics/workspaces/${ws.id}/usage`, ws.owner);
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.field, 'start_time');
    const backwards = await call('GET', usageUrl(ws.id, { start_time: MON, end_time: MON }), ws.owner);
    assert.equal(backwards.status, 400);
    assert.equal(backwards.json.error.field, 'end_time');
  });

  test('limit is 1..max_page_size', async () => {
    const ws = await newWorkspace(call, 'limit');
    for (const limit of [0, -1, MAX_PAGE + 1]) {
      const r = await call('GET', usageUrl(ws.id, { start_time: MON, limit }), ws.owner);
      assert.equal(r.status, 400, String(limit));
      assert.equal(r.json.error.field, 'limit');
    }
    for (const limit of [1, MAX_PAGE]) {
      const r = await call('GET', usageUrl(ws.id, { start_time: MON, limit }), ws.owner);
      assert.equal(r.status, 200, String(limit));
    }
  });
});

describe('reviews and approvals', () => {
  test('reviews by outcome and risk with histogram p50/p99; approvals by answer and overrides', async () => {
    const ws = await newWorkspace(call, 'rev');
    const at = (MON + 100) * 1000;
    for (let i = 0; i < 98; i++)
      await recordReview(writer, { workspaceId: ws.id, atMs: at, outcome: 'approved', riskLevel: 'low', latencyMs: 7 });
    await recordReview(writer, { workspaceId: ws.id, atMs: at, outcome: 'denied', riskLevel: 'high', latencyMs: 400 });
    await recordReview(writer, { workspaceId: ws.id, atMs: at, outcome: 'timed_out', latencyMs: 200_000 });
    await recordReview(writer, {
      workspaceId: ws.id,
      atMs: at + DAY_S * 1000,
      outcome: 'failed',
      riskLevel: 'medium',
      latencyMs: 30,
    });
    const r = await call('GET', `/v1/analytics/workspaces/${ws.id}/reviews?start_time=${MON}`, ws.owner);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.object, 'page');
    const [mon, tue] = r.json.data;
    assert.equal(mon.object, 'analytics.reviews');
    assert.equal(mon.start_time, MON);
    assert.equal(mon.reviews, 100);
    assert.deepEqual(mon.outcomes, { approved: 98, denied: 1, timed_out: 1, failed: 0, aborted: 0 });
    assert.deepEqual(mon.risk_levels, { low: 98, medium: 0, high: 1, critical: 0 });
    assert.deepEqual(mon.latency_ms, { p50: 10, p99: 500 }); // the upper bounds of the buckets holding them
    assert.equal(tue.reviews, 1);
    assert.deepEqual(tue.latency_ms, { p50: 50, p99: 50 });
    const week = await call(
      'GET',
      `/v1/analytics/workspaces/${ws.id}/reviews?start_time=${MON}&group_by=week`,
      ws.owner,
    );
    assert.equal(week.json.data.length, 1);
    assert.equal(week.json.data[0].reviews, 101);

    for (const event of ['requested', 'requested', 'requested', 'answered:approved', 'answered:denied'] as const)
      await recordApproval(writer, { workspaceId: ws.id, atMs: at, event });
    await recordApproval(writer, { workspaceId: ws.id, atMs: at, event: 'answered:approved_for_thread' });
    await recordApproval(writer, { workspaceId: ws.id, atMs: at, event: 'denial_overrides' });
    const a = await call('GET', `/v1/analytics/workspaces/${ws.id}/approvals?start_time=${MON}`, ws.owner);
    assert.equal(a.status, 200, a.body);
    assert.deepEqual(a.json.data, [
      {
        object: 'analytics.approvals',
        start_time: MON,
        end_time: MON + DAY_S,
        requested: 3,
        answers: { approved: 1, approved_for_thread: 1, denied: 1, timed_out: 0, expired: 0 },
        denial_overrides: 1,
      },
    ]);
  });
});

describe('who may read analytics', () => {
  test('an analytics-only token reads analytics and is refused on every other route', async () => {
    const ws = await newWorkspace(call, 'scope');
    const created = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
      name: 'bi',
      expires_in_days: null,
      scopes: ['analytics.read'],
    });
    assert.equal(created.status, 201, created.body);
    assert.deepEqual(created.json.scopes, ['analytics.read']);
    const listed = await call('GET', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner);
    const byId = new Map(listed.json.items.map((t: { id: string; scopes: string[] }) => [t.id, t.scopes]));
    assert.deepEqual(byId.get(created.json.id), ['analytics.read']);
    assert.ok((byId.get(listed.json.items[0].id) as string[]).includes('threads.write'), 'default: every scope');
    const bi = created.json.secret as string;

    const routes = orch.app.apiRoutes.filter((r) => !r.public);
    assert.ok(routes.length > 20, 'the app lists its routes');
    let refused = 0;
    for (const route of routes) {
      const url = route.url
        .replace(':ws', ws.id)
        .replace(':workspace_id', ws.id)
        .replace(/:[a-z_]+/g, 'x_1');
      const method = route.method as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
      const body = ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined;
      const r = await call(method, url, bi, body);
      if (route.scope === 'analytics.read') {
        if (route.method === 'GET') {
          const ok = await call('GET', `${url}?start_time=${MON}`, bi);
          assert.equal(ok.status, 200, `${route.method} ${route.url}: ${ok.body}`);
        }
        continue;
      }
      assert.equal(r.status, 403, `${route.method} ${route.url}: ${r.body}`);
      if (route.method !== 'HEAD') assert.equal(r.json.error.code, 'insufficient_scope');
      refused++;
    }
    assert.ok(refused >= 24);

    // And the other way round: a token without analytics.read is refused on analytics.
    const threadsOnly = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
      name: 'ci',
      expires_in_days: null,
      scopes: ['threads.read', 'threads.write'],
    });
    const r = await call('GET', usageUrl(ws.id, { start_time: MON }), threadsOnly.json.secret);
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'insufficient_scope');
    const bad = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, {
      name: 'x',
      expires_in_days: null,
      scopes: ['everything'],
    });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.field, /^scopes/);
  });

  test('owners and admins read analytics; a member only with can_view_analytics, set by an owner or admin', async () => {
    const ws = await newWorkspace(call, 'perm');
    const admin = await addMember(ws, 'admin@perm.test', 'admin');
    const dev = await addMember(ws, 'dev@perm.test', 'member');
    const viewer = await addMember(ws, 'viewer@perm.test', 'member', { can_view_analytics: true });
    const url = usageUrl(ws.id, { start_time: MON });
    for (const token of [ws.owner, admin, viewer]) assert.equal((await call('GET', url, token)).status, 200);
    for (const path of ['usage', 'reviews', 'approvals']) {
      const r = await call('GET', `/v1/analytics/workspaces/${ws.id}/${path}?start_time=${MON}`, dev);
      assert.equal(r.status, 403, path);
      assert.equal(r.json.error.code, 'forbidden');
    }
    const granted = await call('PATCH', `/v1/workspaces/${ws.id}/members/dev%40perm.test`, admin, {
      can_view_analytics: true,
    });
    assert.equal(granted.status, 200, granted.body);
    assert.equal(granted.json.can_view_analytics, true);
    assert.equal((await call('GET', url, dev)).status, 200);
    // A member cannot grant it (members routes are for owners and admins).
    const self = await call('PATCH', `/v1/workspaces/${ws.id}/members/viewer%40perm.test`, viewer, {
      can_view_analytics: false,
    });
    assert.equal(self.status, 403);
  });

  test("another workspace's id answers 404", async () => {
    const mine = await newWorkspace(call, 'mine');
    const theirs = await newWorkspace(call, 'theirs');
    await turn(theirs.id, { member: 'x@theirs.test', atS: MON });
    for (const path of ['usage', 'reviews', 'approvals']) {
      const r = await call('GET', `/v1/analytics/workspaces/${theirs.id}/${path}?start_time=${MON}`, mine.owner);
      assert.equal(r.status, 404, path);
    }
  });
});

describe('OpenAPI', () => {
  test('describes the analytics endpoints with operationIds and their page objects', async () => {
    const r = await call('GET', '/openapi.json');
    assert.equal(r.status, 200);
    const paths = r.json.paths;
    for (const [path, opId] of [
      ['usage', 'getAnalyticsUsage'],
      ['reviews', 'getAnalyticsReviews'],
      ['approvals', 'getAnalyticsApprovals'],
    ]) {
      const op = paths[`/v1/analytics/workspaces/{workspace_id}/${path}`]?.get;
      assert.ok(op, path);
      assert.equal(op.operationId, opId);
      const names = op.parameters.map((p: { name: string }) => p.name);
      for (const n of ['workspace_id', 'start_time', 'end_time', 'group_by', 'limit', 'page']) assert.ok(names.includes(n), n);
      const page = op.responses['200'].content['application/json'].schema;
      assert.deepEqual(Object.keys(page.properties).sort(), ['data', 'has_more', 'next_page', 'object']);
    }
    // Token creation documents the scopes.
    assert.ok(JSON.stringify(paths['/v1/workspaces/{ws}/access-tokens'].post).includes('analytics.read'));
  });
});
