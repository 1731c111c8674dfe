// [redis]: where every service finds Redis, and how much of it Paddock may use: the retention of the
// streams that grow with use (thread events, audit records) and the memory bound of the local Redis.
import Type from 'typebox';

const int = (def: number, minimum: number, description: string) =>
  Type.Optional(Type.Integer({ minimum, default: def, description }));

export const RedisSection = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        pattern: '^(rediss?|redis-sentinel)://',
        description:
          'Redis URL; redis-sentinel://user:pass@host1:26379,host2:26379/<primary name> connects through Sentinel; unset: npm start runs one',
      }),
    ),
    events_max_per_thread: int(10_000, 100, "Events kept in one thread's stream (XADD MAXLEN ~): the oldest go first"),
    events_retention_ms: int(
      604_800_000,
      1_000,
      "Events older than this leave a thread's stream (XTRIM MINID), and an idle thread's stream expires after it (7 days)",
    ),
    audit_max_per_workspace: int(
      1_000_000,
      1_000,
      "Audit records kept per workspace (XADD MAXLEN ~), beside [orchestrator] audit_retention_days' age bound",
    ),
    maxmemory_mb: int(
      1_024,
      16,
      "maxmemory of the Redis npm start runs (noeviction: writes fail past it); the alert fires at 80% of the server's own maxmemory",
    ),
  },
  { additionalProperties: false },
);
