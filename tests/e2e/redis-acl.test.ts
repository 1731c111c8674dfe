// The whole cluster with Redis under the cluster's ACL, each service connected as its own user
// (real Redis, Docker, orchestrator, guardian, proxy, worker; fake models): an agent turn with a
// review, an allowed and a blocked fetch, a network request held for a person, member and token
// management, and a thread's deletion tearing down its sandbox all work, and Redis logged no command
// or key refused to any service along the way.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RecordedRequest, ScriptedReply } from '@paddock/testing';
import { waitFor } from '@paddock/testing';
import { sandboxKeys } from '@paddock/contracts';
import type { ThreadEvent, ThreadItem } from '@paddock/contracts';
import { Redis } from 'ioredis';
import { apiOf, type Cluster, jsonlEvents, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;

function guardianVerdicts(req: RecordedRequest): ScriptedReply {
  const deny = JSON.stringify(req.body).includes('forbidden.test');
  return {
    kind: 'json',
    value: {
      risk_level: deny ? 'high' : 'low',
      user_authorization: 'unknown',
      outcome: deny ? 'deny' : 'allow',
      rationale: deny ? 'not needed' : 'routine',
    },
  };
}

before(async () => {
  c = await startCluster('e2e-redis-acl', { redisAcl: true });
  call = apiOf(c);
  c.guardianModel.setHandler(guardianVerdicts);
  await c.client.call('ACL', 'LOG', 'RESET');
});
after(() => c?.close());

type CommandItem = Extract<ThreadItem, { type: 'command_execution' }>;
const commandsOf = (events: ThreadEvent[], turnId: string) =>
  events.flatMap((e) =>
    e.type === 'item.completed' && e.turn_id === turnId && e.item.type === 'command_execution' ? [e.item as CommandItem] : [],
  );

/** Redis' log of refused commands and keys: [reason, object, username] of each entry. */
async function aclDenials(): Promise<string[][]> {
  const log = (await c.client.call('ACL', 'LOG')) as unknown[][];
  return log.map((entry) => {
    const fields: Record<string, unknown> = {};
    for (let i = 0; i + 1 < entry.length; i += 2) fields[String(entry[i])] = entry[i + 1];
    return [String(fields['reason']), String(fields['object']), String(fields['username'])];
  });
}

test('each service runs on its own ACL user: a reviewed turn, fetches through the proxy and a held request, no refusal logged', async () => {
  // The services really are on their users: a URL names each, and none is the admin.
  for (const service of ['orchestrator', 'sandbox-worker', 'egress-proxy'] as const) {
    assert.equal(new URL(c.redis.urlFor(service)).username, service);
  }
  const ws = await newWorkspace(c, 'acl');
  const threadId = await newThread(c, ws.owner, {
    sandbox_mode: 'workspace-write',
    approval_policy: 'on-request',
    approvals_reviewer: 'auto_review',
    network: { mode: 'allowlist', allowed_domains: [c.allowed.name], allowed_ports: [c.allowed.port, c.forbidden.port] },
  });
  const forbiddenHits = c.forbidden.hits();
  c.agentModel.script(
    {
      kind: 'tool_call',
      name: 'shell',
      arguments: {
        command: ['bash', '-c', 'echo escalated > "$HOME/outside.txt" && cat "$HOME/outside.txt"'],
        with_escalated_permissions: true,
        justification: 'write a marker outside the workspace',
      },
    },
    { kind: 'tool_call', name: 'shell', arguments: { command: ['curl', '-sS', `http://${c.allowed.name}:${c.allowed.port}/`] } },
    {
      kind: 'tool_call',
      name: 'shell',
      arguments: {
        command: ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${c.forbidden.name}:${c.forbidden.port}/`],
      },
    },
    { kind: 'text', text: 'Done.' },
  );
  const submitted = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'go' });
  assert.equal(submitted.status, 202, JSON.stringify(submitted.json));
  const turnId = submitted.json.id as string;
  const end = await waitForTurnEnd(c, threadId, turnId);
  assert.equal(end.type, 'turn.completed', JSON.stringify(end));
  const events = await jsonlEvents(c, ws.owner, threadId);
  assert.deepEqual(
    commandsOf(events, turnId).map((x) => x.aggregated_output),
    ['escalated\n', 'hello from the allowed server\n', '403'],
  );
  assert.equal(c.forbidden.hits(), forbiddenHits, 'the blocked server was never reached');

  // A request held for a person: the proxy raises the approval request on its own user.
  const userThread = await newThread(c, ws.owner, {
    sandbox_mode: 'workspace-write',
    approval_policy: 'on-request',
    approvals_reviewer: 'user',
    network: { mode: 'allowlist', allowed_domains: ['nothing.test'], allowed_ports: [c.allowed.port] },
  });
  const held = await call('POST', `/v1/threads/${userThread}/turns`, ws.owner, {
    commands: [{ argv: ['curl', '-sS', `http://${c.allowed.name}:${c.allowed.port}/`] }],
  });
  assert.equal(held.status, 202, JSON.stringify(held.json));
  let pending: { id: string }[] = [];
  await waitFor(
    async () => {
      pending = (await call('GET', `/v1/threads/${userThread}/approvals?status=pending`, ws.owner)).json.items ?? [];
      return pending.length === 1;
    },
    20_000,
    'the held request',
  );
  assert.equal((await call('POST', `/v1/approvals/${pending[0]!.id}`, ws.owner, { decision: 'approve' })).status, 200);
  const heldEnd = await waitForTurnEnd(c, userThread, held.json.id as string);
  assert.equal(heldEnd.type, 'turn.completed', JSON.stringify(heldEnd));
  const heldEvents = await jsonlEvents(c, ws.owner, userThread);
  assert.deepEqual(
    commandsOf(heldEvents, held.json.id as string).map((x) => x.aggregated_output),
    ['hello from the allowed server\n'],
  );

  // Members and tokens (Lua scripts over the members hash and the token records): add a member,
  // mint them a token, remove them (their tokens revoked).
  const added = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
    email: 'dev@acl.test',
    role: 'member',
    can_create_tokens: true,
  });
  assert.equal(added.status, 201, JSON.stringify(added.json));
  const devToken = added.json.access_token.secret as string;
  const minted = await call('POST', `/v1/workspaces/${ws.id}/access-tokens`, devToken, { name: 'ci', expires_in_days: 30 });
  assert.equal(minted.status, 201, JSON.stringify(minted.json));
  assert.equal((await call('DELETE', `/v1/workspaces/${ws.id}/members/dev@acl.test`, ws.owner)).status, 200);
  assert.equal((await call('GET', `/v1/threads/${threadId}`, devToken)).status, 401, 'a removed member has no way in');

  // Deleting a thread: the orchestrator records and announces it, the owning worker tears down its
  // sandbox and clears the record, each on its own user.
  assert.equal((await call('DELETE', `/v1/threads/${threadId}`, ws.owner)).status, 200);
  await waitFor(
    async () => (await c.client.zcard(sandboxKeys.deletedThreads())) === 0,
    60_000,
    'the deleted thread torn down',
  );

  // Nothing any service did was refused by the ACL (a missing key glob or command shows here).
  assert.deepEqual(await aclDenials(), []);
  // And the ACL is live: the proxy's user is refused the turn queue, and the refusal is logged.
  const proxy = new Redis(c.redis.urlFor('egress-proxy'), { maxRetriesPerRequest: 0, lazyConnect: true });
  proxy.on('error', () => {});
  try {
    await proxy.connect();
    await assert.rejects(proxy.lpush('bull:paddock-turns:wait', 'forged'), /NOPERM/);
  } finally {
    proxy.disconnect();
  }
  assert.deepEqual(await aclDenials(), [['key', 'bull:paddock-turns:wait', 'egress-proxy']]);
});
