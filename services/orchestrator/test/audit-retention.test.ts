// Audit retention against a real Redis: records older than `[orchestrator] audit_retention_days` leave
// every workspace's audit log, younger ones stay; the orchestrator trims at start; the key is at least
// 90 days and defaults to 400.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, readClusterFile } from '@paddock/config';
import { keys } from '@paddock/contracts';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Redis } from 'ioredis';
import { trimAuditLogs } from '../src/audit-retention.ts';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newWorkspace, start, testSettings } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);
const DAY_MS = 86_400_000;

before(async () => {
  redis = await startRedis({ acl: true, appendonly: true });
  orch = await start(redis.urlFor('orchestrator'), { dispatch: false });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

/** Replaces a workspace's audit log with one record per age (days before `nowMs`), oldest first. */
async function seed(c: Redis, ws: string, nowMs: number, agesDays: number[]): Promise<void> {
  await c.del(keys.audit(ws));
  for (const age of agesDays) {
    const ms = nowMs - age * DAY_MS;
    await c.xadd(keys.audit(ws), `${ms}-0`, 'entry', JSON.stringify({ at: new Date(ms).toISOString(), age }));
  }
}
const ages = async (c: Redis, ws: string) =>
  ((await c.xrange(keys.audit(ws), '-', '+')) as [string, string[]][]).map(([, f]) => (JSON.parse(f[1]!) as { age: number }).age);

describe('audit retention', () => {
  test('every workspace loses exactly its records older than the retention, and keeps the rest', async () => {
    const c = redis.client();
    const [a, b] = [await newWorkspace(call, 'ret-a'), await newWorkspace(call, 'ret-b')];
    const nowMs = Date.now();
    await seed(c, a.id, nowMs, [500, 400.001, 399.999, 10]);
    await seed(c, b.id, nowMs, [401, 1]);
    const r = await trimAuditLogs(c, { retentionDays: 400, nowMs });
    assert.ok(r.workspaces >= 2);
    assert.ok(r.trimmed >= 3);
    assert.deepEqual(await ages(c, a.id), [399.999, 10]);
    assert.deepEqual(await ages(c, b.id), [1]);
    const again = await trimAuditLogs(c, { retentionDays: 400, nowMs });
    assert.equal(again.trimmed, 0, 'idempotent');
  });

  test('the orchestrator trims at start, as its own ACL user', async () => {
    const c = redis.client();
    const ws = await newWorkspace(call, 'ret-start');
    const nowMs = Date.now();
    await seed(c, ws.id, nowMs, [120, 91, 89]);
    const second = await start(redis.urlFor('orchestrator'), { dispatch: false, settings: { auditRetentionDays: 90 } });
    try {
      let left: number[] = [];
      for (let i = 0; i < 100; i++) {
        left = await ages(c, ws.id);
        if (left.length === 1) break;
        await sleep(20);
      }
      assert.deepEqual(left, [89]);
    } finally {
      await second.close();
    }
  });

  test('[orchestrator] audit_retention_days: default 400, at least 90', () => {
    assert.equal(testSettings().auditRetentionDays, 400);
    const dir = mkdtempSync(join(tmpdir(), 'paddock-ret-'));
    try {
      const path = join(dir, 'paddock.toml');
      writeFileSync(path, '[orchestrator]\naudit_retention_days = 89\n');
      assert.throws(
        () => readClusterFile(path),
        (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === 'orchestrator.audit_retention_days'),
      );
      writeFileSync(path, '[orchestrator]\naudit_retention_days = 90\n');
      assert.equal(readClusterFile(path).orchestrator?.audit_retention_days, 90);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
