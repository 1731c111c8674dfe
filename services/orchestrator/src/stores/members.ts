// Changes to a workspace's member list under its invariants: the workspace always keeps at least one
// owner, and a change applies only to the record the caller decided on (a concurrent change → `changed`).
import type { Member } from '../api/tenancy.ts';
import { keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';

export type MemberChange = 'ok' | 'missing' | 'changed' | 'last_owner';

// KEYS: members hash. ARGV: email, the JSON the caller read, the new JSON ('' removes), '1' when the
// change takes an owner away (then another owner must remain).
const REPLACE_MEMBER = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 'missing' end
if cur ~= ARGV[2] then return 'changed' end
if ARGV[4] == '1' then
  local owners = 0
  for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do
    if cjson.decode(raw).role == 'owner' then owners = owners + 1 end
  end
  if owners <= 1 then return 'last_owner' end
end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 'ok'
`;

/** A stored member record; records from before the analytics permission read it as false. */
export function parseMember(raw: string): Member {
  const m = JSON.parse(raw) as Member;
  return { ...m, can_view_analytics: m.can_view_analytics === true };
}

/** The member's stored record, raw (the compare-and-set token of replaceMember) and parsed. */
export async function readMember(
  redis: Redis,
  workspaceId: string,
  email: string,
): Promise<{ raw: string; member: Member } | undefined> {
  const raw = await redis.hget(keys.members(workspaceId), email.toLowerCase());
  return raw ? { raw, member: parseMember(raw) } : undefined;
}

/** Replaces (or with `next` null, removes) the member read as `raw`, keeping at least one owner. */
export async function replaceMember(
  redis: Redis,
  workspaceId: string,
  read: { raw: string; member: Member },
  next: Member | null,
): Promise<MemberChange> {
  const losesOwner = read.member.role === 'owner' && next?.role !== 'owner';
  return (await redis.eval(
    REPLACE_MEMBER,
    1,
    keys.members(workspaceId),
    read.member.email,
    read.raw,
    next ? JSON.stringify(next) : '',
    losesOwner ? '1' : '0',
  )) as MemberChange;
}

/** Every member of the workspace, by e-mail. */
export async function listMembers(redis: Redis, workspaceId: string): Promise<Member[]> {
  const all = await redis.hvals(keys.members(workspaceId));
  return all.map(parseMember).sort((a, b) => (a.email < b.email ? -1 : 1));
}

/** Adds a member unless one with that email exists (false then). */
export async function addMember(redis: Redis, workspaceId: string, member: Member): Promise<boolean> {
  return (await redis.hsetnx(keys.members(workspaceId), member.email, JSON.stringify(member))) === 1;
}
