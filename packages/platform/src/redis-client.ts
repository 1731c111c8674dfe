// The one place a Redis client is made: a redis:// or rediss:// URL connects directly; a
// redis-sentinel:// URL connects through Sentinel to the current primary (and follows a failover),
// for ioredis clients and BullMQ connections alike, so no service spells connection options twice.
import { Redis, type RedisOptions } from 'ioredis';

export const SENTINEL_SCHEME = 'redis-sentinel:';

/**
 * `redis-sentinel://user:pass@host1:26379,host2:26379/<primary name>`: the credentials are the
 * service's ACL user on the data nodes (primary and replica hold the same users); query
 * `sentinel_username` / `sentinel_password` authenticate to sentinels that require it.
 */
export type SentinelTarget = {
  sentinels: { host: string; port: number }[];
  name: string;
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
};

export function isSentinelUrl(url: string): boolean {
  return url.startsWith(`${SENTINEL_SCHEME}//`);
}

/** Parses a redis-sentinel:// URL; throws with the URL's shape (never its password) when malformed. */
export function parseSentinelUrl(url: string): SentinelTarget {
  // WHATWG URL cannot hold a comma-separated host list: take the authority apart by hand.
  const rest = url.slice(`${SENTINEL_SCHEME}//`.length);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const tail = slash < 0 ? '' : rest.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  const hosts = at < 0 ? authority : authority.slice(at + 1);
  const [pathPart = '', query = ''] = tail.split('?', 2);
  const name = decodeURIComponent(pathPart);
  const sentinels = hosts
    .split(',')
    .filter((h) => h !== '')
    .map((h) => {
      const colon = h.lastIndexOf(':');
      const host = colon < 0 ? h : h.slice(0, colon);
      const port = colon < 0 ? 26379 : Number(h.slice(colon + 1));
      if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error('redis-sentinel URL: each sentinel is host:port');
      }
      return { host: host.replace(/^\[|\]$/g, ''), port };
    });
  if (sentinels.length === 0 || !name) {
    throw new Error('redis-sentinel URL: expected redis-sentinel://[user:pass@]host:port[,host:port...]/<primary name>');
  }
  const target: SentinelTarget = { sentinels, name };
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    const user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
    if (user) target.username = user;
    if (colon >= 0) target.password = decodeURIComponent(userinfo.slice(colon + 1));
  }
  const params = new URLSearchParams(query);
  const su = params.get('sentinel_username');
  const sp = params.get('sentinel_password');
  if (su) target.sentinelUsername = su;
  if (sp) target.sentinelPassword = sp;
  return target;
}

/** ioredis options for `url` (direct: the URL itself; Sentinel: the sentinels and primary name) plus `extra`. */
export function redisConnectionOptions(url: string, extra: RedisOptions = {}): RedisOptions & { url?: string } {
  if (!isSentinelUrl(url)) return { ...extra, url };
  const t = parseSentinelUrl(url);
  return {
    ...extra,
    sentinels: t.sentinels,
    name: t.name,
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(t.sentinelUsername ? { sentinelUsername: t.sentinelUsername } : {}),
    ...(t.sentinelPassword ? { sentinelPassword: t.sentinelPassword } : {}),
    // After a failover the old primary refuses writes: READONLY once it is a replica, NOREPLICAS while
    // it has lost its replica (the data nodes run min-replicas-to-write 1). Either answer means "not
    // the primary": reconnect (asking the sentinels again) and resend the command there.
    reconnectOnError: (err: Error) => (/^(READONLY|NOREPLICAS)/.test(err.message) ? 2 : false),
  };
}

/** A Redis client for `url` (direct or through Sentinel). */
export function createRedis(url: string, extra: RedisOptions = {}): Redis {
  const { url: direct, ...options } = redisConnectionOptions(url, extra);
  return direct === undefined ? new Redis(options) : new Redis(direct, options);
}

/**
 * A BullMQ `connection` for `url`: BullMQ makes (and duplicates) its own clients from these options.
 * Typed loosely because BullMQ declares its own copy of ioredis' options (this package does not
 * depend on BullMQ); the values are ioredis' own.
 */
export function bullmqConnection(url: string, extra: RedisOptions = {}): { url?: string; host?: string } & Record<string, unknown> {
  return redisConnectionOptions(url, { maxRetriesPerRequest: null, ...extra }) as Record<string, unknown>;
}
