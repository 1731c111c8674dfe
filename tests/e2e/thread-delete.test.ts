// End to end, deleting a thread: its sandbox container and workspace volume are destroyed within a
// bounded wait (the idle TTL here is ten minutes), a running turn is interrupted first, a member may
// delete only the threads they created, and another workspace's token gets 404 and destroys nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys, LABEL, parseEntries, sandboxKeys } from '@paddock/contracts';
import { waitFor } from '@paddock/testing';
import { TurnScheduler } from '@paddock/turn-queue';
import { apiOf, type Cluster, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

const TEARDOWN_WAIT_MS = 30_000;
let c: Cluster;
let call: ReturnType<typeof apiOf>;
before(async () => {
  // No warm pool: every thread's sandbox is created for it, so its resources carry the thread's label too.
  c = await startCluster('e2e-thread-delete', { workers: 1, worker: { warmPoolSize: 0, idleTtlMs: 10 * 60_000 } });
  call = apiOf(c);
});
after(() => c?.close());

const config = { sandbox_mode: 'workspace-write', approval_policy: 'on-request', approvals_reviewer: 'user' };
const pendingTeardown = async (tenant: string, thread: string) =>
  (await c.client.zscore(sandboxKeys.deletedThreads(), JSON.stringify({ tenant, thread }))) !== null;
const scoped = (label: string) => JSON.stringify({ label: [`paddock.test=${c.run.runId}`, label] });

/** Containers and volumes of this run labelled with the thread or with its sandbox's id. */
async function resourcesOf(threadId: string, sandboxId: string) {
  const labels = [`${LABEL.thread}=${threadId}`, `${LABEL.sandbox}=${sandboxId}`];
  const containers = (
    await Promise.all(labels.map((l) => c.docker.listContainers({ all: true, filters: scoped(l) })))
  ).flat();
  const volumes = (
    await Promise.all(labels.map(async (l) => (await c.docker.listVolumes({ filters: scoped(l) })).Volumes ?? []))
  ).flat();
  return { containers: containers.length, volumes: volumes.length };
}

async function submit(token: string, threadId: string, commands: { argv: string[] }[]): Promise<string> {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, { commands });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json.id as string;
}

/** A thread with one completed turn, so its sandbox exists; answers the sandbox id. */
async function threadWithSandbox(token: string, tenant: string): Promise<{ threadId: string; sandboxId: string }> {
  const threadId = await newThread(c, token, config);
  const turnId = await submit(token, threadId, [{ argv: ['bash', '-c', 'echo work > /workspace/f'] }]);
  assert.equal((await waitForTurnEnd(c, threadId, turnId)).type, 'turn.completed');
  const sandboxId = await c.client.get(sandboxKeys.threadSandbox(tenant, threadId));
  assert.ok(sandboxId, 'the thread has a sandbox');
  const before = await resourcesOf(threadId, sandboxId);
  assert.ok(before.containers >= 1 && before.volumes >= 1, `resources before delete: ${JSON.stringify(before)}`);
  return { threadId, sandboxId };
}

async function waitGone(threadId: string, sandboxId: string) {
  await waitFor(
    async () => {
      const left = await resourcesOf(threadId, sandboxId);
      return left.containers === 0 && left.volumes === 0;
    },
    TEARDOWN_WAIT_MS,
    `thread ${threadId}'s container and volume to go`,
  );
}

describe('deleting a thread', () => {
  test('destroys its sandbox container and workspace volume well before the idle TTL', async () => {
    const ws = await newWorkspace(c, 'del-idle');
    const { threadId, sandboxId } = await threadWithSandbox(ws.owner, ws.id);
    const del = await call('DELETE', `/v1/threads/${threadId}`, ws.owner);
    assert.equal(del.status, 200);
    assert.equal(del.json.status, 'deleted');
    await waitGone(threadId, sandboxId);
    // Nothing left in Redis that points at it, and the deletion is acknowledged.
    await waitFor(
      async () => !(await pendingTeardown(ws.id, threadId)),
      TEARDOWN_WAIT_MS,
      'the deletion to be acknowledged',
    );
    assert.equal(await c.client.exists(sandboxKeys.sandbox(sandboxId)), 0);
    assert.equal(await c.client.get(sandboxKeys.threadSandbox(ws.id, threadId)), null);
    const again = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { commands: [{ argv: ['true'] }] });
    assert.equal(again.status, 409);
  });

  test('interrupts the running turn first, then destroys the sandbox', async () => {
    const ws = await newWorkspace(c, 'del-running');
    const { threadId, sandboxId } = await threadWithSandbox(ws.owner, ws.id);
    const turnId = await submit(ws.owner, threadId, [
      { argv: ['bash', '-c', 'sleep 300; echo not-reached'] },
      { argv: ['bash', '-c', 'echo never'] },
    ]);
    await waitFor(
      async () =>
        parseEntries((await c.client.xrange(keys.events(threadId), '-', '+')) as [string, string[]][]).some(
          ({ event: e }) =>
            e.type === 'item.started' && e.turn_id === turnId && e.item.type === 'command_execution',
        ),
      60_000,
      'the sleep to start',
    );
    const del = await call('DELETE', `/v1/threads/${threadId}`, ws.owner);
    assert.equal(del.status, 200);
    const end = await waitForTurnEnd(c, threadId, turnId, TEARDOWN_WAIT_MS);
    assert.equal(end.type, 'turn.failed');
    assert.equal((end as { error: { code?: string } }).error.code, 'interrupted');
    await waitGone(threadId, sandboxId);
    const turn = await call('GET', `/v1/threads/${threadId}/turns/${turnId}`, ws.owner);
    assert.equal(turn.json.status, 'interrupted');
  });

  test('a deletion whose announcement no worker heard is torn down by the periodic scan', async () => {
    const ws = await newWorkspace(c, 'del-missed');
    const { threadId, sandboxId } = await threadWithSandbox(ws.owner, ws.id);
    // What the DELETE route stores, without the publish: as if the worker's subscriber was reconnecting.
    assert.equal(await new TurnScheduler(c.client).closeThread(threadId, ws.id), true);
    await c.client.zadd(sandboxKeys.deletedThreads(), Date.now(), JSON.stringify({ tenant: ws.id, thread: threadId }));
    await waitGone(threadId, sandboxId);
    await waitFor(async () => !(await pendingTeardown(ws.id, threadId)), TEARDOWN_WAIT_MS, 'the acknowledgement');
  });

  test("a member deletes only their own threads; another workspace's token gets 404; neither destroys anything", async () => {
    const ws = await newWorkspace(c, 'del-roles');
    const add = async (email: string, role: string) => {
      const r = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
        email,
        role,
        can_create_tokens: false,
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.access_token.secret as string;
    };
    const dev = await add('dev@del-roles.test', 'member');
    const admin = await add('admin@del-roles.test', 'admin');
    const other = await newWorkspace(c, 'del-other');
    const owners = await threadWithSandbox(ws.owner, ws.id);

    const byMember = await call('DELETE', `/v1/threads/${owners.threadId}`, dev);
    assert.equal(byMember.status, 403);
    assert.equal(byMember.json.error.code, 'forbidden');
    const byOtherTenant = await call('DELETE', `/v1/threads/${owners.threadId}`, other.owner);
    assert.equal(byOtherTenant.status, 404);
    // Refused deletions changed nothing: the thread is active, no teardown is pending, the sandbox stands.
    assert.equal((await call('GET', `/v1/threads/${owners.threadId}`, ws.owner)).json.status, 'active');
    assert.equal(await pendingTeardown(ws.id, owners.threadId), false);
    const still = await resourcesOf(owners.threadId, owners.sandboxId);
    assert.ok(still.containers >= 1 && still.volumes >= 1);
    const next = await submit(ws.owner, owners.threadId, [{ argv: ['cat', '/workspace/f'] }]);
    assert.equal((await waitForTurnEnd(c, owners.threadId, next)).type, 'turn.completed');

    // The member's own thread is theirs to delete; an admin deletes anyone's.
    const mine = await threadWithSandbox(dev, ws.id);
    assert.equal((await call('DELETE', `/v1/threads/${mine.threadId}`, dev)).status, 200);
    await waitGone(mine.threadId, mine.sandboxId);
    assert.equal((await call('DELETE', `/v1/threads/${owners.threadId}`, admin)).status, 200);
    await waitGone(owners.threadId, owners.sandboxId);
  });
});
