// [sandbox_worker]: runs turns in sandboxes; host/port are its health probe.
import Type from 'typebox';
import { listen } from './listen.ts';

const ms = (def: number, description: string, minimum = 1) =>
  Type.Optional(Type.Integer({ minimum, default: def, description }));

export const SandboxLimitsSection = Type.Object(
  {
    cpus: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 64, default: 1, description: 'CPUs per sandbox' }),
    ),
    memory_mb: Type.Optional(
      Type.Integer({ minimum: 64, default: 1024, description: 'Memory per sandbox (memory + swap), MiB' }),
    ),
    pids: Type.Optional(Type.Integer({ minimum: 16, default: 256, description: 'Processes per sandbox' })),
    tmp_mb: Type.Optional(
      Type.Integer({ minimum: 1, default: 256, description: 'Size of the /tmp tmpfs, MiB' }),
    ),
    home_mb: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 64,
        description: 'Size of the home tmpfs (escalated writes), MiB',
      }),
    ),
    lifetime_ms: ms(4 * 3600_000, 'Wall-clock lifetime of a sandbox; past it the reaper removes it', 1000),
    // Resource ceilings (issue 12): the workspace's hard disk quota.
    workspace_disk_mb: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_048_576,
        default: 8192,
        description:
          'Hard size of each workspace (an ext4 image on a loop device), MiB; 0: no quota. Left at the default where loop devices are missing: no quota, with a warning',
      }),
    ),
  },
  { additionalProperties: false },
);

export const SandboxWorkerSection = Type.Object(
  {
    ...listen(8083),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, default: 4, description: 'Turns run at once' })),
    image: Type.Optional(
      Type.String({ minLength: 1, description: 'Sandbox image; unset: the built paddock/sandbox-base' }),
    ),
    warm_pool_size: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        default: 2,
        description: 'Started, unassigned sandboxes kept ready',
      }),
    ),
    limits: Type.Optional(SandboxLimitsSection),
    lease_ms: ms(15_000, "Worker lease in Redis; a dead worker's sandboxes are reaped after it", 1000),
    reap_interval_ms: ms(10_000, 'How often the reaper runs', 100),
    idle_ttl_ms: ms(30 * 60_000, "A thread's sandbox unused this long is destroyed", 1000),
    exec_timeout_ms: ms(120_000, 'Default hard timeout of one exec'),
    max_output_bytes: Type.Optional(
      Type.Integer({ minimum: 1024, default: 1024 * 1024, description: 'Per stream; head and tail kept' }),
    ),
    // Resource ceilings (issue 12): images, the workspace disks' files, output kept in the thread's events.
    allowed_images: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 300 }), {
        maxItems: 1000,
        description:
          'Images an environment may name (exact references, or repo:* for any tag); unset: paddock/sandbox-<name>:* of the built images. The worker\'s own image is always allowed',
      }),
    ),
    data_dir: Type.Optional(
      Type.String({
        minLength: 1,
        default: '/var/lib/paddock/sandbox-worker',
        description: "The worker's own files (workspace disk images)",
      }),
    ),
    output_caps: Type.Optional(
      Type.Object(
        {
          item_bytes: Type.Optional(
            Type.Integer({
              minimum: 1024,
              default: 256 * 1024,
              description:
                "Output of one command kept in the thread's events: its item.updated deltas, and separately its final output",
            }),
          ),
          turn_bytes: Type.Optional(
            Type.Integer({
              minimum: 1024,
              default: 2 * 1024 * 1024,
              description: "Command output of one turn kept in the thread's events (deltas and final outputs)",
            }),
          ),
          thread_bytes: Type.Optional(
            Type.Integer({
              minimum: 1024,
              default: 32 * 1024 * 1024,
              description: "Command output kept in one thread's event stream over all its turns (a lifetime budget)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    // The turn engine's budgets (each also overridable by its PADDOCK_* environment variable).
    review_deadline_ms: ms(30_000, 'Budget of one guardian review of an action (PADDOCK_REVIEW_DEADLINE_MS)'),
    approval_timeout_ms: ms(
      10 * 60_000,
      "How long an action, or a request the egress proxy holds, waits for a person's decision (PADDOCK_APPROVAL_TIMEOUT_MS)",
    ),
    output_throttle_ms: ms(250, 'At most one output item.updated per command per this (PADDOCK_OUTPUT_THROTTLE_MS)'),
    turn_lock_ms: ms(30_000, "BullMQ job lock: a dead worker's turn is taken over after about this (PADDOCK_TURN_LOCK_MS)"),
    // Cloud files (issue 14): workspaces outlive containers; the files API's internal endpoint.
    workspace_retention_ms: ms(
      7 * 24 * 3600_000,
      "A thread's workspace whose container is stopped is kept this long after its last use, then removed",
      1000,
    ),
    files_max_upload_bytes: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 1024 * 1024 * 1024,
        description: 'Largest body the files API accepts for one file or one tar upload (413 past it)',
      }),
    ),
    internal_host: Type.Optional(
      Type.String({
        default: '127.0.0.1',
        description:
          "Bind address of the worker's internal endpoint (files API; the orchestrator's service credential). Never tenant-reachable: not on a sandbox network",
      }),
    ),
    internal_port: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 65535, default: 8084, description: "TCP port of the worker's internal endpoint" }),
    ),
    internal_url: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'How the orchestrator reaches the internal endpoint; unset: http://<internal_host>:<port>',
      }),
    ),
    // Repositories in (issue 14): the worker checks a thread's repository out itself, so which
    // hosts it may reach and which secrets it may send are the operator's alone.
    repository_hosts: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' }), {
        maxItems: 1000,
        default: [],
        description:
          'Hosts (host or host:port) the worker may fetch an environment\'s repository from; empty: no repository checkouts',
      }),
    ),
    repository_credentials: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[A-Za-z0-9_-]+$' }),
        Type.Object(
          {
            env_key: Type.String({
              pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
              description: "Name of the worker's environment variable that holds the token",
            }),
            username: Type.Optional(
              Type.String({ minLength: 1, maxLength: 200, description: 'HTTP Basic user sent with the token (default x-access-token)' }),
            ),
            hosts: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
              minItems: 1,
              description: 'The only hosts (host or host:port) the token is sent to',
            }),
          },
          { additionalProperties: false },
        ),
        {
          description:
            'Repository credentials an environment may name (by name only): the variable holding each token and the hosts it may go to',
        },
      ),
    ),
    checkout_timeout_ms: ms(300_000, 'Budget of one repository checkout (fetch into the mirror cache and the work tree)'),
    diff_max_bytes: Type.Optional(
      Type.Integer({
        minimum: 1024,
        default: 1024 * 1024,
        description: "A thread's stored diff at most; past it the diff is cut and says so. Files above a tenth of it are named, not dumped",
      }),
    ),
  },
  { additionalProperties: false },
);
