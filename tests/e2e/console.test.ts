// The web console in Debian's Chromium (playwright-core) against a real cluster (Redis, Docker,
// orchestrator, guardian, proxy, worker; fake models only): signing in, a scripted turn streaming to
// completion, an agent turn's approval decided in the inbox, a denial approved for one retry, the
// usage page's totals against the analytics API, a revoked token sent back to sign-in, and the CSP
// with no inline script. Each browser test saves a screenshot of its final screen.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { waitFor } from '@paddock/testing';
import { apiOf, type Cluster, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';
import { type BrowserSession, startBrowser } from './support/browser.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;
let b: BrowserSession;
let ws: { id: string; owner: string };
/** Every CSP violation any page reported (there must be none). */
const violations: string[] = [];

before(async () => {
  c = await startCluster('e2e-console');
  call = apiOf(c);
  b = await startBrowser('console');
  ws = await newWorkspace(c, 'console');
});
after(async () => {
  await b?.close();
  await c?.close();
});

async function signedIn(token = ws.owner): Promise<Page> {
  const page = await b.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  await page.goto(`${c.apiUrl}/console/`);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return page;
}

async function submit(threadId: string, body: Record<string, unknown>): Promise<string> {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json.id as string;
}

describe('web console', () => {
  test('serves the page with a strict CSP and no inline script or style', async () => {
    const res = await fetch(`${c.apiUrl}/console/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
    }
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/, 'no inline, no eval, no other origin');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const html = await res.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.ok(scripts.length >= 1, 'the page loads its bundle');
    for (const [, attrs, body] of scripts) {
      assert.match(attrs ?? '', /\bsrc="\/console\/assets\/[^"]+\.js"/, 'every script is a file of this origin');
      assert.equal((body ?? '').trim(), '', 'no inline script');
    }
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handler');
    assert.doesNotMatch(html, /<style\b|\sstyle\s*=/i, 'no inline style');
    assert.doesNotMatch(html, /https?:\/\//, 'no other origin (no CDN)');
    const asset = html.match(/src="(\/console\/assets\/[^"]+\.js)"/)?.[1];
    const js = await fetch(`${c.apiUrl}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.ok(js.headers.get('content-security-policy'), 'assets carry the CSP too');
  });

  test('sign in: a wrong token is refused with a message, the right one opens the console', async () => {
    const page = await b.newPage();
    await page.goto(`${c.apiUrl}/console/`);
    await page.getByLabel('Access token').fill('pdk.nope.nope');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /token/i);
    await page.getByLabel('Access token').fill(ws.owner);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    assert.match((await page.locator('.who').textContent()) ?? '', /owner@console\.test/);
    // The token is in this tab's session storage only: no cookie, not in the URL.
    assert.deepEqual(await page.context().cookies(), []);
    assert.doesNotMatch(page.url(), /pdk\./);
    await b.screenshot(page, 'sign-in');
    await page.context().close();
  });

  test('a scripted turn streams into the thread view until it completes', async () => {
    const threadId = await newThread(c, ws.owner, { sandbox_mode: 'workspace-write', approval_policy: 'never' });
    const page = await signedIn();
    await page.goto(`${c.apiUrl}/console/#/threads/${threadId}`);
    await page.getByRole('heading', { name: `Thread ${threadId}` }).waitFor();
    const turnId = await submit(threadId, {
      commands: [{ argv: ['bash', '-c', 'echo first-line; sleep 1; echo second-line'] }],
    });
    const turn = page.locator(`[data-turn-id="${turnId}"]`);
    await page.locator(`[data-turn-id="${turnId}"][data-status="completed"]`).waitFor({ timeout: 90_000 });
    const text = (await turn.textContent()) ?? '';
    assert.match(text, /first-line/);
    assert.match(text, /second-line/);
    assert.match(text, /completed/);
    const end = await waitForTurnEnd(c, threadId, turnId);
    assert.equal(end.type, 'turn.completed');
    await b.screenshot(page, 'scripted-turn');
    await page.context().close();
  });

  test("an agent turn's approval request appears in the inbox, is approved there, and the turn completes", async () => {
    const threadId = await newThread(c, ws.owner, {
      sandbox_mode: 'workspace-write',
      approval_policy: 'untrusted',
      approvals_reviewer: 'user',
    });
    c.agentModel.script(
      { kind: 'tool_call', name: 'shell', arguments: { command: ['touch', 'approved-in-console'] } },
      { kind: 'text', text: 'created the file' },
    );
    const page = await signedIn();
    await page.goto(`${c.apiUrl}/console/#/approvals`);
    const turnId = await submit(threadId, { input: 'create a file' });
    const card = page.locator('.approval', { hasText: 'touch approved-in-console' });
    await card.waitFor({ timeout: 90_000 });
    // What a person needs to decide: the time left and what led to the request.
    assert.match((await card.textContent()) ?? '', /\d+ (min|s)\b.* left/);
    assert.match((await card.locator('.transcript').textContent()) ?? '', /user: create a file/);
    const pending = await call('GET', `/v1/threads/${threadId}/approvals?status=pending`, ws.owner);
    const asked = pending.json.items[0];
    assert.ok(Date.parse(asked.expires_at) > Date.parse(asked.created_at), JSON.stringify(asked));
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Approved' }).waitFor();
    const end = await waitForTurnEnd(c, threadId, turnId, 120_000);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));
    const decided = await call('GET', `/v1/threads/${threadId}/approvals`, ws.owner);
    assert.equal(decided.json.items[0].status, 'approved');
    assert.equal(decided.json.items[0].decided_by, 'owner@console.test');
    await card.waitFor({ state: 'detached', timeout: 10_000 });
    await b.screenshot(page, 'approval-inbox');
    await page.context().close();
  });

  test('a denial is approved for one retry from the denials view', async () => {
    c.guardianModel.setHandler(() => ({
      kind: 'json',
      value: { risk_level: 'high', user_authorization: 'low', outcome: 'deny', rationale: 'not in the task' },
    }));
    try {
      // A prompt rule under on-request: the guardian reviews it (as in Codex, `untrusted` goes to a person).
      const threadId = await newThread(c, ws.owner, {
        sandbox_mode: 'workspace-write',
        approval_policy: 'on-request',
        approvals_reviewer: 'auto_review',
        rules: [{ pattern: ['touch'], decision: 'prompt' }],
      });
      const turnId = await submit(threadId, { commands: [{ argv: ['touch', 'denied-by-guardian'] }] });
      await waitForTurnEnd(c, threadId, turnId, 120_000);
      const page = await signedIn();
      await page.goto(`${c.apiUrl}/console/#/denials`);
      const card = page.locator('.denial', { hasText: 'touch denied-by-guardian' });
      await card.waitFor({ timeout: 30_000 });
      assert.match((await card.textContent()) ?? '', /not in the task/);
      await card.getByRole('button', { name: 'Approve one retry' }).click();
      await card.getByText(/retry approved by owner@console\.test/).waitFor({ timeout: 10_000 });
      const denials = await call('GET', `/v1/threads/${threadId}/denials`, ws.owner);
      assert.equal(denials.json.items[0].override.approved_by, 'owner@console.test');
      await b.screenshot(page, 'denial-retry');
      await page.context().close();
    } finally {
      c.guardianModel.setHandler(() => ({
        kind: 'json',
        value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'routine' },
      }));
    }
  });

  test('the usage page shows the totals the analytics API reports', async () => {
    const start = Math.floor(Date.now() / 1000) - 30 * 86400;
    const apiTotals = async () => {
      const r = await call('GET', `/v1/analytics/workspaces/${ws.id}/usage?start_time=${start}&group=workspace`, ws.owner);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const rows = r.json.data as { turns: number; input_tokens: number; output_tokens: number }[];
      return {
        turns: rows.reduce((s, x) => s + x.turns, 0),
        input_tokens: rows.reduce((s, x) => s + x.input_tokens, 0),
        output_tokens: rows.reduce((s, x) => s + x.output_tokens, 0),
      };
    };
    // The earlier tests' turns are counted at their ends (in the background): wait until some are.
    await waitFor(async () => (await apiTotals()).turns >= 3, 20_000, 'usage of the earlier turns');
    const page = await signedIn();
    await page.goto(`${c.apiUrl}/console/#/usage`);
    await page.locator('[data-total="turns"]').waitFor();
    const shown = async () => ({
      turns: Number(((await page.locator('[data-total="turns"]').textContent()) ?? '').replace(/,/g, '')),
      input_tokens: Number(((await page.locator('[data-total="input_tokens"]').textContent()) ?? '').replace(/,/g, '')),
      output_tokens: Number(((await page.locator('[data-total="output_tokens"]').textContent()) ?? '').replace(/,/g, '')),
    });
    const want = await apiTotals();
    assert.ok(want.turns >= 3, JSON.stringify(want));
    assert.ok(want.input_tokens > 0, 'the agent turn used tokens');
    assert.deepEqual(await shown(), want);
    await b.screenshot(page, 'usage');
    await page.context().close();
  });

  test('a revoked token is sent back to sign-in with a clear message', async () => {
    const minted = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, ws.owner, { name: 'console-revoke', expires_in_days: null });
    assert.equal(minted.status, 201, JSON.stringify(minted.json));
    const page = await signedIn(minted.json.secret as string);
    await page.goto(`${c.apiUrl}/console/#/approvals`);
    assert.equal((await call('DELETE', `/v1/workspaces/${ws.id}/access-tokens/${minted.json.id}`, ws.owner)).status, 200);
    // The inbox polls: its next call gets 401 and the console returns to sign-in.
    await page.getByRole('heading', { name: 'Sign in to Paddock' }).waitFor({ timeout: 15_000 });
    assert.match((await page.getByRole('status').textContent()) ?? '', /Signed out: .*revoked|Signed out: .*token/i);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the token is forgotten');
    await b.screenshot(page, 'revoked');
    await page.context().close();
  });

  test('no page reported a Content-Security-Policy violation', () => {
    assert.deepEqual(violations, []);
  });
});
