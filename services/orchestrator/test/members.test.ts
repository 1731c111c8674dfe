// Roles and member lifecycle against a real Redis: owners and admins list, change and remove members
// (removal revokes their tokens), admins never reach an owner, the last owner stays, members without
// the token permission have no token page, and token creation stops at the per-member cap.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newWorkspace, start } from './helpers.ts';

const DAY_MS = 86_400_000;
const TOKEN_CAP = 3;
let redis: RedisServer;
let orch: Orchestrator;
let clockMs = Date.now();
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true });
  orch = await start(redis.url, {
    now: () => clockMs,
    dispatch: false,
    settings: { maxTokensPerMember: TOKEN_CAP },
  });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

/** A workspace with an owner, an admin and a member (with or without the token permission). */
async function team(name: string, o: { memberCanCreateTokens?: boolean } = {}) {
  const ws = await newWorkspace(call, name);
  const add = async (email: string, role: string, canCreateTokens: boolean) => {
    const r = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, {
      email,
      role,
      can_create_tokens: canCreateTokens,
    });
    assert.equal(r.status, 201, r.body);
    return { email, secret: r.json.access_token.secret as string, tokenId: r.json.access_token.id as string };
  };
  const admin = await add(`admin@${name}.test`, 'admin', true);
  const member = await add(`dev@${name}.test`, 'member', o.memberCanCreateTokens ?? false);
  return { id: ws.id, owner: ws.owner, ownerEmail: `owner@${name}.test`, admin, member };
}

const membersUrl = (ws: string, email?: string) =>
  `/v1/workspaces/${ws}/members${email === undefined ? '' : `/${encodeURIComponent(email)}`}`;

async function auditActions(ws: string, owner: string): Promise<{ action: string; target: string; actor: string }[]> {
  const r = await call('GET', `/v1/workspaces/${ws}/audit-log?limit=100`, owner);
  assert.equal(r.status, 200);
  return r.json.items;
}

describe('listing members', () => {
  test('owners and admins list every member with role and permission; members get 403', async () => {
    const t = await team('l1');
    for (const token of [t.owner, t.admin.secret]) {
      const r = await call('GET', membersUrl(t.id), token);
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.json.items.map((m: { email: string; role: string; can_create_tokens: boolean }) => [
          m.email,
          m.role,
          m.can_create_tokens,
        ]),
        [
          ['admin@l1.test', 'admin', true],
          ['dev@l1.test', 'member', false],
          ['owner@l1.test', 'owner', true],
        ],
      );
      assert.equal(r.json.next_cursor, null);
    }
    const byMember = await call('GET', membersUrl(t.id), t.member.secret);
    assert.equal(byMember.status, 403);
    assert.equal(byMember.json.error.code, 'forbidden');
  });

  test('the member list pages by cursor', async () => {
    const t = await team('l2');
    const p1 = await call('GET', `${membersUrl(t.id)}?limit=2`, t.owner);
    assert.equal(p1.json.items.length, 2);
    const p2 = await call('GET', `${membersUrl(t.id)}?limit=2&cursor=${p1.json.next_cursor}`, t.owner);
    assert.equal(p2.json.items.length, 1);
    assert.equal(p2.json.next_cursor, null);
  });

  test("another workspace's id answers 404 on list, change and remove, and changes nothing", async () => {
    const one = await team('x1');
    const two = await team('x2');
    const list = await call('GET', membersUrl(two.id), one.owner);
    assert.equal(list.status, 404);
    assert.equal(list.json.error.code, 'not_found');
    const patch = await call('PATCH', membersUrl(two.id, two.member.email), one.owner, { role: 'admin' });
    assert.equal(patch.status, 404);
    const del = await call('DELETE', membersUrl(two.id, two.member.email), one.owner);
    assert.equal(del.status, 404);
    // The other workspace's member is untouched and still gets in.
    const theirs = await call('GET', membersUrl(two.id), two.owner);
    const dev = theirs.json.items.find((m: { email: string }) => m.email === two.member.email);
    assert.equal(dev.role, 'member');
    assert.equal((await call('GET', '/v1/environments', two.member.secret)).status, 200);
  });
});

describe('changing members', () => {
  test('an owner changes role and token permission; the change takes effect on the next request', async () => {
    const t = await team('c1');
    const before = await call('GET', `/v1/workspaces/${t.id}/requirements`, t.member.secret);
    assert.equal(before.status, 403);
    const r = await call('PATCH', membersUrl(t.id, 'DEV@c1.test'), t.owner, {
      role: 'admin',
      can_create_tokens: true,
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.role, 'admin');
    assert.equal(r.json.can_create_tokens, true);
    const now = await call('GET', `/v1/workspaces/${t.id}/requirements`, t.member.secret);
    assert.equal(now.status, 200);
    const entry = (await auditActions(t.id, t.owner)).find((e) => e.action === 'member.updated');
    assert.equal(entry?.target, 'dev@c1.test');
    assert.equal(entry?.actor, 'owner@c1.test');
  });

  test('an admin changes a member but cannot change an owner or make anyone an owner', async () => {
    const t = await team('c2');
    const grant = await call('PATCH', membersUrl(t.id, t.member.email), t.admin.secret, {
      can_create_tokens: true,
    });
    assert.equal(grant.status, 200);
    assert.equal(grant.json.can_create_tokens, true);
    const demoteOwner = await call('PATCH', membersUrl(t.id, t.ownerEmail), t.admin.secret, { role: 'member' });
    assert.equal(demoteOwner.status, 403);
    const promote = await call('PATCH', membersUrl(t.id, t.member.email), t.admin.secret, { role: 'owner' });
    assert.equal(promote.status, 403);
    assert.equal(promote.json.error.field, 'role');
    const self = await call('PATCH', membersUrl(t.id, t.admin.email), t.admin.secret, { role: 'owner' });
    assert.equal(self.status, 403);
    const list = await call('GET', membersUrl(t.id), t.owner);
    const roles = Object.fromEntries(list.json.items.map((m: { email: string; role: string }) => [m.email, m.role]));
    assert.deepEqual(roles, { 'admin@c2.test': 'admin', 'dev@c2.test': 'member', 'owner@c2.test': 'owner' });
  });

  test('members cannot change anyone, themselves included', async () => {
    const t = await team('c3', { memberCanCreateTokens: true });
    for (const email of [t.member.email, t.admin.email]) {
      const r = await call('PATCH', membersUrl(t.id, email), t.member.secret, { role: 'admin' });
      assert.equal(r.status, 403, email);
    }
  });

  test('bad change bodies are 400 naming the field; an unknown member is 404', async () => {
    const t = await team('c4');
    const badRole = await call('PATCH', membersUrl(t.id, t.member.email), t.owner, { role: 'king' });
    assert.equal(badRole.status, 400);
    assert.equal(badRole.json.error.field, 'role');
    const badPerm = await call('PATCH', membersUrl(t.id, t.member.email), t.owner, { can_create_tokens: 'yes' });
    assert.equal(badPerm.status, 400);
    assert.equal(badPerm.json.error.field, 'can_create_tokens');
    const unknownKey = await call('PATCH', membersUrl(t.id, t.member.email), t.owner, { email: 'x@y.test' });
    assert.equal(unknownKey.status, 400);
    const empty = await call('PATCH', membersUrl(t.id, t.member.email), t.owner, {});
    assert.equal(empty.status, 400);
    const unknown = await call('PATCH', membersUrl(t.id, 'nobody@c4.test'), t.owner, { role: 'admin' });
    assert.equal(unknown.status, 404);
  });

  test('the last owner can be neither demoted nor removed; with a second owner, one can', async () => {
    const t = await team('c5');
    const demote = await call('PATCH', membersUrl(t.id, t.ownerEmail), t.owner, { role: 'admin' });
    assert.equal(demote.status, 409);
    assert.equal(demote.json.error.code, 'last_owner');
    const remove = await call('DELETE', membersUrl(t.id, t.ownerEmail), t.owner);
    assert.equal(remove.status, 409);
    assert.equal(remove.json.error.code, 'last_owner');
    const second = await call('PATCH', membersUrl(t.id, t.admin.email), t.owner, { role: 'owner' });
    assert.equal(second.status, 200);
    const nowOk = await call('PATCH', membersUrl(t.id, t.ownerEmail), t.owner, { role: 'admin' });
    assert.equal(nowOk.status, 200);
    // The one owner left is the last again.
    const lastAgain = await call('DELETE', membersUrl(t.id, t.admin.email), t.admin.secret);
    assert.equal(lastAgain.status, 409);
  });
});

describe('removing members', () => {
  test('an owner removes a member: every token they hold is revoked and audited, and stays dead if re-added', async () => {
    const t = await team('r1', { memberCanCreateTokens: true });
    const extra = await call('POST', `/v1/workspaces/${t.id}/access-tokens`, t.member.secret, {
      name: 'ci',
      expires_in_days: 30,
    });
    assert.equal(extra.status, 201);
    const r = await call('DELETE', membersUrl(t.id, t.member.email), t.owner);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.member.email, 'dev@r1.test');
    assert.deepEqual([...r.json.revoked_token_ids].sort(), [t.member.tokenId, extra.json.id].sort());
    for (const secret of [t.member.secret, extra.json.secret as string]) {
      assert.equal((await call('GET', '/v1/environments', secret)).status, 401);
    }
    const tokens = await call('GET', `/v1/workspaces/${t.id}/access-tokens?limit=100`, t.owner);
    for (const tok of tokens.json.items.filter((x: { member_email: string }) => x.member_email === 'dev@r1.test')) {
      assert.ok(tok.revoked_at, `token ${tok.id} revoked`);
    }
    const actions = await auditActions(t.id, t.owner);
    assert.ok(actions.some((e) => e.action === 'member.removed' && e.target === 'dev@r1.test'));
    for (const id of r.json.revoked_token_ids as string[]) {
      assert.ok(actions.some((e) => e.action === 'token.revoked' && e.target === id && e.actor === 'owner@r1.test'));
    }
    const list = await call('GET', membersUrl(t.id), t.owner);
    assert.ok(!list.json.items.some((m: { email: string }) => m.email === 'dev@r1.test'));
    // Added again, the old secrets stay refused; only the new first token works.
    const again = await call('POST', membersUrl(t.id), t.owner, {
      email: 'dev@r1.test',
      role: 'member',
      can_create_tokens: false,
    });
    assert.equal(again.status, 201);
    assert.equal((await call('GET', '/v1/environments', t.member.secret)).status, 401);
    assert.equal((await call('GET', '/v1/environments', extra.json.secret as string)).status, 401);
    assert.equal((await call('GET', '/v1/environments', again.json.access_token.secret as string)).status, 200);
  });

  test('an admin removes a member but not an owner; members remove nobody; unknown is 404', async () => {
    const t = await team('r2');
    const ownerGone = await call('DELETE', membersUrl(t.id, t.ownerEmail), t.admin.secret);
    assert.equal(ownerGone.status, 403);
    const byMember = await call('DELETE', membersUrl(t.id, t.admin.email), t.member.secret);
    assert.equal(byMember.status, 403);
    assert.equal((await call('GET', '/v1/environments', t.admin.secret)).status, 200);
    const ok = await call('DELETE', membersUrl(t.id, t.member.email), t.admin.secret);
    assert.equal(ok.status, 200);
    assert.equal((await call('GET', '/v1/environments', t.owner)).status, 200);
    const unknown = await call('DELETE', membersUrl(t.id, t.member.email), t.admin.secret);
    assert.equal(unknown.status, 404);
  });
});

describe('access tokens by role', () => {
  test("an admin cannot revoke an owner's token; an owner revokes an admin's; an admin a member's", async () => {
    const t = await team('k1', { memberCanCreateTokens: true });
    const list = await call('GET', `/v1/workspaces/${t.id}/access-tokens`, t.owner);
    const ownerTokenId = list.json.items.find((x: { member_email: string }) => x.member_email === t.ownerEmail).id;
    const refused = await call('DELETE', `/v1/workspaces/${t.id}/access-tokens/${ownerTokenId}`, t.admin.secret);
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, 'forbidden');
    assert.equal((await call('GET', '/v1/environments', t.owner)).status, 200, 'owner token still works');
    const byAdmin = await call('DELETE', `/v1/workspaces/${t.id}/access-tokens/${t.member.tokenId}`, t.admin.secret);
    assert.equal(byAdmin.status, 200);
    const byOwner = await call('DELETE', `/v1/workspaces/${t.id}/access-tokens/${t.admin.tokenId}`, t.owner);
    assert.equal(byOwner.status, 200);
    assert.equal((await call('GET', '/v1/environments', t.admin.secret)).status, 401);
  });

  test('a member without the token permission has no token page: list, create and revoke are 403', async () => {
    const t = await team('k2');
    const base = `/v1/workspaces/${t.id}/access-tokens`;
    const list = await call('GET', base, t.member.secret);
    assert.equal(list.status, 403);
    assert.equal(list.json.error.code, 'forbidden');
    const create = await call('POST', base, t.member.secret, { name: 'x', expires_in_days: 1 });
    assert.equal(create.status, 403);
    const revoke = await call('DELETE', `${base}/${t.member.tokenId}`, t.member.secret);
    assert.equal(revoke.status, 403);
    // Granted the permission, the page is theirs (own tokens only).
    await call('PATCH', membersUrl(t.id, t.member.email), t.owner, { can_create_tokens: true });
    const now = await call('GET', base, t.member.secret);
    assert.equal(now.status, 200);
    assert.deepEqual(
      now.json.items.map((x: { member_email: string }) => x.member_email),
      [t.member.email],
    );
  });

  test("another workspace's token routes answer 404 to a member with the permission", async () => {
    const one = await team('k3', { memberCanCreateTokens: true });
    const two = await team('k4');
    const list = await call('GET', `/v1/workspaces/${two.id}/access-tokens`, one.member.secret);
    assert.equal(list.status, 404);
    const create = await call('POST', `/v1/workspaces/${two.id}/access-tokens`, one.admin.secret, {
      name: 'x',
      expires_in_days: 1,
    });
    assert.equal(create.status, 404);
    const revoke = await call('DELETE', `/v1/workspaces/${one.id}/access-tokens/${two.member.tokenId}`, one.owner);
    assert.equal(revoke.status, 404);
  });

  test('token creation stops at the per-member cap of live tokens; revoked and expired ones do not count', async () => {
    const t = await team('k5', { memberCanCreateTokens: true });
    const base = `/v1/workspaces/${t.id}/access-tokens`;
    // The first token from being added counts: TOKEN_CAP - 1 more fit.
    const made: { id: string }[] = [];
    for (let i = 1; i < TOKEN_CAP; i++) {
      const r = await call('POST', base, t.member.secret, { name: `t${i}`, expires_in_days: i === 1 ? 1 : 30 });
      assert.equal(r.status, 201, r.body);
      made.push(r.json);
    }
    const over = await call('POST', base, t.member.secret, { name: 'over', expires_in_days: 30 });
    assert.equal(over.status, 409);
    assert.equal(over.json.error.code, 'token_limit_reached');
    assert.match(over.json.error.message, /max_tokens_per_member/);
    assert.equal(over.json.error.details.max_tokens_per_member, TOKEN_CAP);
    const listed = await call('GET', `${base}?limit=100`, t.member.secret);
    assert.equal(listed.json.items.length, TOKEN_CAP, 'nothing stored past the cap');
    // The cap is per member: the admin still creates.
    assert.equal((await call('POST', base, t.admin.secret, { name: 'a', expires_in_days: 1 })).status, 201);
    // A revoked token frees a place.
    await call('DELETE', `${base}/${made[1]!.id}`, t.member.secret);
    const afterRevoke = await call('POST', base, t.member.secret, { name: 'again', expires_in_days: 30 });
    assert.equal(afterRevoke.status, 201);
    assert.equal((await call('POST', base, t.member.secret, { name: 'over2', expires_in_days: 30 })).status, 409);
    // So does an expired one (t1 expires after a day).
    clockMs += DAY_MS + 1000;
    try {
      const afterExpiry = await call('POST', base, t.member.secret, { name: 'later', expires_in_days: 30 });
      assert.equal(afterExpiry.status, 201, afterExpiry.body);
    } finally {
      clockMs -= DAY_MS + 1000;
    }
  });

  test('concurrent creations cannot pass the cap together', async () => {
    const t = await team('k6', { memberCanCreateTokens: true });
    const base = `/v1/workspaces/${t.id}/access-tokens`;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call('POST', base, t.member.secret, { name: `c${i}`, expires_in_days: 30 }),
      ),
    );
    assert.equal(results.filter((r) => r.status === 201).length, TOKEN_CAP - 1);
    assert.ok(results.every((r) => r.status === 201 || r.status === 409));
  });
});

describe('documentation', () => {
  test('OpenAPI lists the member routes with their schemas', async () => {
    const spec = await call('GET', '/openapi.json');
    assert.equal(spec.status, 200);
    const list = spec.json.paths['/v1/workspaces/{ws}/members'];
    assert.ok(list?.get && list?.post, 'GET and POST members');
    const one = spec.json.paths['/v1/workspaces/{ws}/members/{email}'];
    assert.ok(one?.patch && one?.delete, 'PATCH and DELETE a member');
    assert.ok(one.patch.requestBody.content['application/json'].schema.properties.can_create_tokens);
  });
});
