// The audit export against a real Redis: JSONL and CSV (fixed header, quoting, formula cells escaped)
// streamed across many stream pages with nothing skipped or repeated; start_time inclusive and
// end_time exclusive; owners and admins only, another workspace 404, bad input 400 naming the field.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { appendAudit, keys } from '@paddock/contracts';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { AUDIT_CSV_COLUMNS, EXPORT_PAGE } from '../src/stores/audit.ts';
import { api, newWorkspace, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ acl: true, appendonly: true });
  orch = await start(redis.urlFor('orchestrator'), { dispatch: false });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

const actor = { email: 'owner@x.test', tokenId: null };
/** A tenant-chosen string with every character CSV must quote, and a spreadsheet formula. */
const NASTY = '=HYPERLINK("http://evil.test","x"), a "quoted"\nline';

describe('audit-log export', () => {
  test('JSONL and CSV stream every entry once, oldest first, across many stream pages', async () => {
    const ws = await newWorkspace(call, 'ex1');
    const c = redis.client();
    const n = EXPORT_PAGE * 2 + 37;
    const p = c.pipeline();
    for (let i = 0; i < n; i++) {
      p.xadd(keys.audit(ws.id), '*', 'entry', JSON.stringify({
        at: new Date().toISOString(),
        actor: actor.email,
        token_id: null,
        action: 'test.entry',
        target: i === 7 ? NASTY : `t${i}`,
        details: { i },
      }));
    }
    await p.exec();
    const all = (await c.xlen(keys.audit(ws.id)));
    assert.ok(all > n, 'the workspace creation entries are there too');

    const jsonl = await call('GET', `/v1/workspaces/${ws.id}/audit-log/export?format=jsonl`, ws.owner);
    assert.equal(jsonl.status, 200);
    assert.match(String(jsonl.headers['content-type']), /^application\/jsonl/);
    assert.match(String(jsonl.headers['content-disposition']), new RegExp(`attachment; filename="audit-${ws.id}\\.jsonl"`));
    assert.equal(jsonl.headers['content-length'], undefined, 'streamed, not a buffered body');
    const lines = jsonl.body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; target: string; details: { i?: number } });
    assert.equal(lines.length, all);
    assert.equal(new Set(lines.map((l) => l.id)).size, all, 'no entry repeated');
    const tests = lines.filter((l) => l.details.i !== undefined);
    assert.deepEqual(tests.map((l) => l.details.i), [...Array(n).keys()], 'none skipped, oldest first');
    assert.equal(tests[7]!.target, NASTY);

    const csv = await call('GET', `/v1/workspaces/${ws.id}/audit-log/export?format=csv`, ws.owner);
    assert.equal(csv.status, 200);
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    assert.equal(csv.body.split('\n')[0], AUDIT_CSV_COLUMNS.join(','), 'the fixed header');
    const rows = parse(csv.body, { columns: true }) as Record<(typeof AUDIT_CSV_COLUMNS)[number], string>[];
    assert.equal(rows.length, all);
    assert.deepEqual(rows.map((r) => r.id), lines.map((l) => l.id));
    const nasty = rows.find((r) => r.details === '{"i":7}');
    // Quoted so it parses back whole; the leading "=" escaped so no spreadsheet runs it.
    assert.equal(nasty?.target, `'${NASTY}`);
    assert.equal(rows.find((r) => r.details === '{"i":8}')?.target, 't8');
    assert.equal(rows[0]!.token_id === '' || rows[0]!.token_id.startsWith('tok'), true);
  });

  test('start_time is inclusive and end_time exclusive (Unix seconds)', async () => {
    const ws = await newWorkspace(call, 'ex2');
    const c = redis.client();
    const T = 1_700_000_000_000; // a whole second, in ms
    await c.del(keys.audit(ws.id)); // the creation entries are newer than these
    for (const ms of [T - 1, T, T + 999, T + 1000]) {
      await c.xadd(keys.audit(ws.id), `${ms}-0`, 'entry', JSON.stringify({
        at: new Date(ms).toISOString(),
        actor: actor.email,
        token_id: null,
        action: 'test.edge',
        target: String(ms),
        details: {},
      }));
    }
    const r = await call(
      'GET',
      `/v1/workspaces/${ws.id}/audit-log/export?start_time=${T / 1000}&end_time=${T / 1000 + 1}`,
      ws.owner,
    );
    assert.equal(r.status, 200);
    const targets = r.body.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { target: string }).target);
    assert.deepEqual(targets, [String(T), String(T + 999)]);
    const csv = await call('GET', `/v1/workspaces/${ws.id}/audit-log/export?format=csv&start_time=${T / 1000 + 10}`, ws.owner);
    assert.equal(csv.body, `${AUDIT_CSV_COLUMNS.join(',')}\n`, 'an empty range is the header alone');
  });

  test('owners and admins only; another workspace is 404; bad format or time is 400 naming the field', async () => {
    const ws = await newWorkspace(call, 'ex3');
    await appendAudit(redis.client(), ws.id, actor, 'test.one', 'x');
    const url = `/v1/workspaces/${ws.id}/audit-log/export`;
    const member = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'm@ex3.test',
      role: 'member',
      can_create_tokens: false,
    });
    assert.equal((await call('GET', url, member.json.access_token.secret)).status, 403);
    const admin = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'a@ex3.test',
      role: 'admin',
      can_create_tokens: true,
    });
    assert.equal((await call('GET', url, admin.json.access_token.secret)).status, 200);
    const other = await newWorkspace(call, 'ex3-other');
    const foreign = await call('GET', url, other.owner);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.json.error.code, 'not_found');
    assert.equal((await call('GET', url)).status, 401);
    for (const [q, field] of [
      ['format=xml', 'format'],
      ['start_time=yesterday', 'start_time'],
      ['start_time=-5', 'start_time'],
      ['end_time=soon', 'end_time'],
      ['start_time=100&end_time=100', 'end_time'],
      ['limit=3', 'limit'],
    ] as const) {
      const r = await call('GET', `${url}?${q}`, ws.owner);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error.field, field, `${q}: ${JSON.stringify(r.json)}`);
      assert.equal(typeof r.json.error.message, 'string');
    }
  });
});
