// End to end, the whole cluster under the Redis ACL (real Redis, Docker, orchestrator, guardian,
// egress proxy, sandbox worker; fake models only): agent turns whose model reports usage with cached
// tokens, and scripted turns, from two members through two clients (`X-Paddock-Client: cli` and a
// plain API call). The day bucket's totals equal the sum of the turns' turn.completed usage per member
// and client, each turn is in its bucket as soon as its end is visible, and each turn's turn.finished
// audit record carries its numbers. The buckets are read both from Redis through the contract's keys and
// through `GET /v1/analytics/workspaces/{id}/usage` (per-user rows with their per-client breakdown, and
// group=workspace) with the owner's token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ScriptedReply } from '@paddock/testing';
import { analyticsKeys, FIELD_SEP, keys, type Usage, utcDay } from '@paddock/contracts';
import { creditsMicro, emptyMeasures, type UsagePricing } from '@paddock/turn-queue';
import { apiOf, type Cluster, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

const MODEL = 'agent-model';
const PRICING: UsagePricing = {
  retentionDays: 100,
  sandboxCpuSecondCredits: 0.25,
  prices: { [MODEL]: { input_per_million: 3, cached_input_per_million: 1, output_per_million: 12 } },
};

let c: Cluster;
before(async () => {
  c = await startCluster('e2e-analytics-usage', { redisAcl: true, worker: { pricing: PRICING } });
});
after(() => c?.close());

const shell = (command: string[]): ScriptedReply => ({ kind: 'tool_call', name: 'shell', arguments: { command } });

async function submit(token: string, threadId: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(`${c.apiUrl}/v1/threads/${threadId}/turns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const json = (await res.json()) as { id: string };
  assert.equal(res.status, 202, JSON.stringify(json));
  return json.id;
}

type Finished = { action: string; target: string; details: Record<string, number | string> };
async function finished(workspaceId: string): Promise<Map<string, Finished['details']>> {
  const entries = await c.client.xrange(keys.audit(workspaceId), '-', '+');
  const out = new Map<string, Finished['details']>();
  for (const [, fields] of entries) {
    const e = JSON.parse(fields[1]!) as Finished;
    if (e.action !== 'turn.finished') continue;
    assert.equal(out.has(e.target), false, `one turn.finished per turn (${e.target})`);
    out.set(e.target, e.details);
  }
  return out;
}

describe('usage analytics, end to end', () => {
  test('bucket totals equal the sum of turn.completed usage per member and client; each turn audited', async () => {
    const ws = await newWorkspace(c, 'usage');
    const owner = 'owner@usage.test';
    const add = await apiOf(c)('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email: 'bob@usage.test',
      role: 'member',
      can_create_tokens: true,
    });
    assert.equal(add.status, 201, JSON.stringify(add.json));
    const bob = { email: 'bob@usage.test', token: add.json.access_token.secret as string };
    const config = { sandbox_mode: 'workspace-write', approval_policy: 'never' };
    const ownerThread = await newThread(c, ws.owner, config);
    const bobThread = await newThread(c, bob.token, config);
    const netThread = await newThread(c, ws.owner, {
      ...config,
      network: { mode: 'allowlist', allowed_domains: [c.allowed.name], allowed_ports: [c.allowed.port] },
    });
    const day = () => utcDay(Date.now());
    const bucket = () => c.client.hgetall(analyticsKeys.usage(ws.id, day()));

    type Sent = { turnId: string; member: string; client: string; usage: Usage };
    const sent: Sent[] = [];
    const run = async (
      who: { email: string; token: string },
      threadId: string,
      body: unknown,
      client: 'cli' | 'api',
      script: ScriptedReply[] = [],
    ) => {
      if (script.length) c.agentModel.script(...script);
      const turnsBefore = Object.entries(await bucket())
        .filter(([k]) => k.endsWith(`${FIELD_SEP}turns`))
        .reduce((n, [, v]) => n + Number(v), 0);
      const turnId = await submit(who.token, threadId, body, client === 'cli' ? { 'x-paddock-client': 'cli' } : {});
      const end = await waitForTurnEnd(c, threadId, turnId);
      assert.equal(end.type, 'turn.completed', JSON.stringify(end));
      // Freshness: counted before its end event was written, so it is in the bucket already.
      const turnsNow = Object.entries(await bucket())
        .filter(([k]) => k.endsWith(`${FIELD_SEP}turns`))
        .reduce((n, [, v]) => n + Number(v), 0);
      assert.equal(turnsNow, turnsBefore + 1, 'in its bucket when its end is visible');
      sent.push({ turnId, member: who.email, client, usage: (end as { usage: Usage }).usage });
    };

    const owners = { email: owner, token: ws.owner };
    await run(owners, ownerThread, { input: 'list the workspace' }, 'cli', [
      { ...shell(['bash', '-c', 'echo listing; ls -la /workspace']), usage: { input_tokens: 1200, cached_input_tokens: 800, output_tokens: 40 } },
      { kind: 'text', text: 'Listed.', usage: { input_tokens: 1500, cached_input_tokens: 1200, output_tokens: 25 } },
    ]);
    await run(bob, bobThread, { input: 'say hello' }, 'api', [
      { kind: 'text', text: 'Hello.', usage: { input_tokens: 300, cached_input_tokens: 100, output_tokens: 7 } },
    ]);
    await run(owners, ownerThread, { commands: [{ cmd: 'echo scripted-owner; seq 1 200' }] }, 'api');
    await run(bob, bobThread, { commands: [{ cmd: 'echo scripted-bob' }, { argv: ['true'] }] }, 'cli');
    // Through the egress proxy (an allowed host); the proxy writes its byte counters every 20 ms, and
    // the next command leaves it time to (the meter reads the counter at the turn's end).
    await run(owners, netThread, {
      commands: [{ argv: ['curl', '-sS', `http://${c.allowed.name}:${c.allowed.port}/`] }, { argv: ['sleep', '0.5'] }],
    }, 'cli');
    await run(bob, bobThread, { input: 'one command' }, 'cli', [
      { ...shell(['echo', 'from bob']), usage: { input_tokens: 900, cached_input_tokens: 0, output_tokens: 30 } },
      { kind: 'text', text: 'Done.', usage: { input_tokens: 1000, cached_input_tokens: 900, output_tokens: 10 } },
    ]);

    const b = await bucket();
    const audits = await finished(ws.id);
    assert.equal(audits.size, sent.length, 'one turn.finished record per turn');
    const rows = new Map<string, Sent[]>();
    for (const s of sent) rows.set(`${s.member}${FIELD_SEP}${s.client}`, [...(rows.get(`${s.member}${FIELD_SEP}${s.client}`) ?? []), s]);
    assert.equal(rows.size, 4, 'owner and bob, each through cli and api');
    const sum = (xs: Sent[], f: (s: Sent) => number) => xs.reduce((n, s) => n + f(s), 0);
    const num = (v: string | number | undefined) => Number(v ?? 0);
    for (const [row, turns] of rows) {
      const field = (metric: string) => num(b[`${row}${FIELD_SEP}${metric}`]);
      const usage = (k: keyof Usage) => sum(turns, (s) => s.usage[k] ?? 0);
      assert.deepEqual(
        {
          turns: field('turns'),
          input_tokens: field('input_tokens'),
          cached_input_tokens: field('cached_input_tokens'),
          output_tokens: field('output_tokens'),
        },
        {
          turns: turns.length,
          input_tokens: usage('input_tokens'),
          cached_input_tokens: usage('cached_input_tokens'),
          output_tokens: usage('output_tokens'),
        },
        row,
      );
      // The sandbox and byte counters and credits: the bucket holds the sum of the turns' records.
      const recorded = (k: string) => sum(turns, (s) => num(audits.get(s.turnId)![k]));
      for (const metric of ['output_bytes', 'egress_bytes', 'sandbox_cpu_ms', 'sandbox_wall_ms', 'files_changed', 'credits_micro']) {
        assert.equal(field(metric), recorded(metric), `${row} ${metric}`);
      }
    }
    // The same totals through the analytics API, per user with the per-client breakdown, and workspace-wide.
    const call = apiOf(c);
    const sinceS = Math.floor(Date.now() / 1000) - 3600;
    type ApiTotals = Record<string, number> & { client?: string };
    type ApiRow = ApiTotals & { user?: string; clients: ApiTotals[] };
    const readRows = async (query: string): Promise<ApiRow[]> => {
      const r = await call('GET', `/v1/analytics/workspaces/${ws.id}/usage?start_time=${sinceS}${query}`, ws.owner);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.has_more, false);
      return r.json.data as ApiRow[];
    };
    const expected = (turns: Sent[]) => ({
      turns: turns.length,
      input_tokens: sum(turns, (s) => s.usage.input_tokens),
      cached_input_tokens: sum(turns, (s) => s.usage.cached_input_tokens ?? 0),
      output_tokens: sum(turns, (s) => s.usage.output_tokens),
      egress_bytes: sum(turns, (s) => num(audits.get(s.turnId)!['egress_bytes'])),
      credits: Math.round(sum(turns, (s) => num(audits.get(s.turnId)!['credits_micro']))) / 1e6,
    });
    const shown = (rs: ApiTotals[]) => {
      const f = (k: string) => rs.reduce((n, r) => n + (r[k] ?? 0), 0);
      return {
        turns: f('turns'),
        input_tokens: f('input_tokens'),
        cached_input_tokens: f('cached_input_tokens'),
        output_tokens: f('output_tokens'),
        egress_bytes: f('egress_bytes'),
        credits: Math.round(f('credits') * 1e6) / 1e6,
      };
    };
    const perUser = await readRows('');
    assert.deepEqual(new Set(perUser.map((r) => r.user)), new Set([owner, bob.email]));
    for (const [row, turns] of rows) {
      const [member, client] = row.split(FIELD_SEP);
      const mine = perUser.filter((r) => r.user === member);
      const perClient = mine.flatMap((r) => r.clients.filter((x) => x.client === client));
      assert.deepEqual(shown(perClient), expected(turns), `API ${row}`);
    }
    for (const member of [owner, bob.email]) {
      const mine = perUser.filter((r) => r.user === member);
      assert.deepEqual(shown(mine), expected(sent.filter((s) => s.member === member)), `API ${member}`);
    }
    const whole = await readRows('&group=workspace');
    assert.ok(whole.every((r) => r.user === undefined), 'workspace rows name no user');
    assert.deepEqual(shown(whole), expected(sent), 'API group=workspace');
    assert.deepEqual(
      shown(whole.flatMap((r) => r.clients.filter((x) => x.client === 'cli'))),
      expected(sent.filter((s) => s.client === 'cli')),
      'API group=workspace, cli',
    );

    // The fake model's numbers as the agent loop summed them (cached tokens included).
    const first = sent[0]!;
    assert.deepEqual(first.usage, { input_tokens: 2700, cached_input_tokens: 2000, output_tokens: 65 });

    // Each turn's compliance record: who, when, the model, and how much content it processed.
    for (const s of sent) {
      const d = audits.get(s.turnId)!;
      assert.equal(d['created_by'], s.member);
      assert.equal(d['client'], s.client);
      assert.equal(d['model'], MODEL);
      assert.equal(d['status'], 'completed');
      assert.equal(d['input_tokens'], s.usage.input_tokens);
      assert.equal(d['cached_input_tokens'], s.usage.cached_input_tokens ?? 0);
      assert.equal(d['output_tokens'], s.usage.output_tokens);
      assert.equal(d['files_changed'], 0);
      assert.ok(Date.parse(String(d['ended_at'])) >= Date.parse(String(d['started_at'])));
      assert.equal(d['sandbox_wall_ms'], Date.parse(String(d['ended_at'])) - Date.parse(String(d['started_at'])));
      const measures = {
        ...emptyMeasures(),
        input_tokens: s.usage.input_tokens,
        cached_input_tokens: s.usage.cached_input_tokens ?? 0,
        output_tokens: s.usage.output_tokens,
        sandbox_cpu_ms: num(d['sandbox_cpu_ms']),
      };
      assert.equal(d['credits_micro'], creditsMicro(PRICING, MODEL, measures), `credits of ${s.turnId}`);
    }
    // Commands that print leave their output bytes; the sandbox's CPU was read from its cgroup.
    const scriptedOwner = audits.get(sent[2]!.turnId)!;
    assert.ok(num(scriptedOwner['output_bytes']) >= Buffer.byteLength('scripted-owner\n'), 'output bytes counted');
    assert.ok(
      sent.some((s) => num(audits.get(s.turnId)!['sandbox_cpu_ms']) > 0),
      'some turn used sandbox CPU (cgroup counter read across the turn)',
    );
    const viaProxy = audits.get(sent[4]!.turnId)!;
    assert.ok(num(viaProxy['egress_bytes']) > 0, 'the fetch through the proxy counted its bytes');
    assert.equal(num(audits.get(sent[2]!.turnId)!['egress_bytes']), 0, 'a turn without network moved no bytes');
    const threads = await c.client.scard(analyticsKeys.threads(ws.id, day()));
    assert.equal(threads, 5, 'each member×client row counts the threads it ran turns on');
  });
});
