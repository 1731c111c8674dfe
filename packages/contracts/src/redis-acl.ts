// The cluster's Redis ACL: one user per service that uses Redis, each limited to the key globs,
// channels and commands it needs; `default` is off, so a client without credentials can run nothing.
// A key a service starts touching must be added to its user here (tests run the services as these users).
import { createHash, randomBytes } from 'node:crypto';
import { TURN_QUEUE, TURN_QUEUE_PREFIX } from './keyspace.ts';

/** The services that talk to Redis (the guardian is stateless and has no Redis user). */
export const REDIS_SERVICE_USERS = ['orchestrator', 'sandbox-worker', 'egress-proxy'] as const;
export type RedisServiceUser = (typeof REDIS_SERVICE_USERS)[number];

/** An operator's full-access user, for redis-cli and for tests that inspect what services wrote. */
export const REDIS_ADMIN_USER = 'admin';

const BULL = `${TURN_QUEUE_PREFIX}:${TURN_QUEUE}:*`;

// Every service: the data commands, none of the server-wide ones (FLUSHALL, CONFIG, KEYS, DEBUG,
// SHUTDOWN, ACL, MONITOR, CLIENT KILL...) and no SCRIPT FLUSH/KILL or FUNCTION; scripts run through
// EVAL/EVALSHA (BullMQ and ioredis define their commands that way), and every key a script touches is
// checked against the user's globs. INFO stays: ioredis' ready check and BullMQ's version check read it.
const DATA_COMMANDS = [
  '+@all',
  '-@dangerous',
  '-@admin',
  '-@scripting',
  '+eval',
  '+evalsha',
  '+script|load',
  '+script|exists',
  '+info',
];

/** What each service may touch. `%R~` is read-only; `~` read and write; `&` a pub/sub channel. */
export const REDIS_USER_RULES: Record<RedisServiceUser, string[]> = {
  // The API owns tenancy, threads and turns and produces the turn queue; it never touches the
  // sandboxes' records or the egress identities. CONFIG GET only: its start-up check reads
  // appendonly and maxmemory-policy.
  orchestrator: [
    '~paddock:workspaces',
    '~paddock:ws:*',
    '~paddock:token:*',
    '~paddock:env:*',
    '~paddock:thread:*',
    '~paddock:turn:*',
    '~paddock:approval:*',
    '~paddock:rate:*',
    '~paddock:sched:*',
    // Webhook deliveries: the outbox it consumes, the due set and the delivery log (hooks sit under ws:*).
    '~paddock:webhooks:*',
    // Deleting a thread records it for the worker that owns its sandbox (sandbox/keys.ts deletedThreads).
    '~paddock:sandbox:deleted-threads',
    // Analytics buckets: read by the API, approvals' answers counted where they are decided.
    '~paddock:analytics:*',
    // The files API and the thread's sandbox view: which worker holds a thread's workspace (read only).
    '%R~paddock:thread-sandbox:*',
    '%R~paddock:sandbox:sbx_*',
    '%R~paddock:worker:*',
    `~${BULL}`,
    '&paddock:*',
    ...DATA_COMMANDS,
    '+config|get',
  ],
  // The worker consumes the queue and runs turns: threads, turns, approvals, the scheduler's
  // slots, its sandboxes and what the proxy must know about them. No tokens, members, workspaces.
  'sandbox-worker': [
    '~paddock:thread:*',
    '~paddock:turn:*',
    '~paddock:approval:*',
    '~paddock:sched:*',
    '~paddock:ws:*:audit',
    '~paddock:sandbox:*',
    '~paddock:thread-sandbox:*',
    '~paddock:warm:*',
    '~paddock:sandbox-network:*',
    '~paddock:worker:*',
    '~paddock:egress:*',
    // Webhook events (turn end, approval asked, review denied): append-only to the outbox.
    '~paddock:webhooks:outbox',
    // Analytics buckets: each turn's usage (exactly once), reviews and approvals at their source.
    '~paddock:analytics:*',
    `~${BULL}`,
    '&paddock:*',
    ...DATA_COMMANDS,
  ],
  // The proxy reads the sandbox identities the worker wrote (never writes them), keeps its grants,
  // counters and decision log, and raises approval requests on the thread. No turn queue.
  'egress-proxy': [
    '%R~paddock:egress:sandbox:*',
    '%R~paddock:egress:source:*',
    '%R~paddock:egress:cred:*',
    '%R~paddock:sandbox-network:*',
    '~paddock:egress:grants:*',
    '~paddock:egress:bytes:*',
    '~paddock:egress:decisions',
    '~paddock:approval:*',
    '~paddock:thread:*:approvals',
    '~paddock:thread:*:events',
    // Webhook events of approval requests it raises.
    '~paddock:webhooks:outbox',
    // A guardian denial of a held request is a thread denial (a person may approve one retry of it).
    '~paddock:thread:*:denials',
    '~paddock:thread:*:overrides',
    // Reviews and approvals of held requests, counted where they happen.
    '~paddock:analytics:ws:*:reviews:*',
    '~paddock:analytics:ws:*:approvals:*',
    // Invalidations of its cached identities (the sandbox worker publishes them).
    '&paddock:egress:changed',
    ...DATA_COMMANDS,
  ],
};

export type RedisPasswords = Record<RedisServiceUser | typeof REDIS_ADMIN_USER, string>;

/** A fresh random password per user (256 bits, URL-safe: it rides in redis:// URLs). */
export function generateRedisPasswords(): RedisPasswords {
  const one = () => randomBytes(32).toString('base64url');
  return { orchestrator: one(), 'sandbox-worker': one(), 'egress-proxy': one(), admin: one() };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * The ACL file (redis-server --aclfile): `default` off, one line per user with the SHA-256 of its
 * password (`#hash`), so the file never holds a password itself. `default` is off, so no connection
 * is ever that user (every command before AUTH is NOAUTH; AUTH as `default` is WRONGPASS), but it
 * keeps full permissions: Redis 7.0 replays the AOF's MULTI/EXEC blocks (which hold every
 * transaction and every script's writes) as `default`, and with `-@all` it drops them on restart.
 */
export function redisAclFile(passwords: RedisPasswords): string {
  const line = (user: string, rules: string[]) =>
    `user ${user} on #${sha256(passwords[user as keyof RedisPasswords])} resetkeys resetchannels ${rules.join(' ')}`;
  return [
    'user default off resetpass resetkeys resetchannels ~* &* +@all',
    ...REDIS_SERVICE_USERS.map((u) => line(u, REDIS_USER_RULES[u])),
    line(REDIS_ADMIN_USER, ['~*', '&*', '+@all']),
    '',
  ].join('\n');
}

/** `redis://user:password@host:port` for one user (the password is URL-safe base64). */
export function redisUrlFor(baseUrl: string, user: string, password: string): string {
  const u = new URL(baseUrl);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString().replace(/\/$/, '');
}

/** The URL with its credentials cut out: what may appear in a log line or an error. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '[unparseable redis url]';
  }
}
