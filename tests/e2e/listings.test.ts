// End to end, listing what a workspace owns: GET /v1/threads filtered by environment and status in
// cursor pages, GET /v1/threads/{id}/turns in order in cursor pages; another workspace sees none of it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiOf, type Cluster, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;
before(async () => {
  c = await startCluster('e2e-listings', { workers: 1, worker: { warmPoolSize: 0 } });
  call = apiOf(c);
});
after(() => c?.close());

/** Every page of a listing, following next_cursor (bounded). */
async function allPages(token: string, path: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const r = await call('GET', `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    ids.push(...r.json.items.map((i: { id: string }) => i.id));
    cursor = r.json.next_cursor;
    pages++;
  } while (cursor && pages < 20);
  return { ids, pages };
}

describe('listings', () => {
  test('threads by environment and status, in pages; turns in order, in pages; tenant-isolated', async () => {
    const ws = await newWorkspace(c, 'lists');
    const env = async (name: string) => (await call('POST', '/v1/environments', ws.owner, { name, image: c.image })).json.id as string;
    const [e1, e2] = [await env('one'), await env('two')];
    const thread = async (environment_id: string) =>
      (await call('POST', '/v1/threads', ws.owner, { environment_id, config: {} })).json.id as string;
    const t1 = await thread(e1);
    const t2 = await thread(e1);
    const t3 = await thread(e2);
    assert.equal((await call('DELETE', `/v1/threads/${t2}`, ws.owner)).status, 200);

    assert.deepEqual((await allPages(ws.owner, '/v1/threads', 1)).ids, [t1, t2, t3]);
    const inE1 = await allPages(ws.owner, `/v1/threads?environment_id=${e1}`, 1);
    assert.deepEqual(inE1.ids, [t1, t2]);
    assert.deepEqual((await allPages(ws.owner, `/v1/threads?status=active`, 2)).ids, [t1, t3]);
    assert.deepEqual((await allPages(ws.owner, `/v1/threads?environment_id=${e1}&status=deleted`, 5)).ids, [t2]);

    const other = await newWorkspace(c, 'lists-other');
    assert.deepEqual((await allPages(other.owner, '/v1/threads', 5)).ids, []);
    assert.equal((await call('GET', `/v1/threads/${t1}/turns`, other.owner)).status, 404);

    const turnIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call('POST', `/v1/threads/${t1}/turns`, ws.owner, { commands: [{ argv: ['true'] }] });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      turnIds.push(r.json.id);
      await waitForTurnEnd(c, t1, r.json.id);
    }
    const turns = await allPages(ws.owner, `/v1/threads/${t1}/turns`, 2);
    assert.deepEqual(turns.ids, turnIds);
    assert.equal(turns.pages, 2);
  });
});
