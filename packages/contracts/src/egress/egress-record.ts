// The per-sandbox egress record the sandbox worker writes and the egress proxy reads: who a source
// address on a sandbox network is (sandbox, tenant, thread), its network policy, and how a blocked
// request is escalated. One JSON value per sandbox in Redis (keyspace.ts, egressKeys), re-read on every request.
import Type, { type Static } from 'typebox';
import { HTTP_METHODS, NETWORK_MODES } from '@paddock/config';
import { PolicyContext, TranscriptItem } from '../review/contract.ts';
import { TraceCarrier } from '@paddock/platform';

// Same grammar as the config's network.allowed_domains: `example.com`, `*.example.com`, `**.example.com`.
const DOMAIN_PATTERN =
  '^(\\*\\*?\\.)?([a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?\\.)*[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?$';

export const DEFAULT_ALLOWED_PORTS = [80, 443];

export const EgressNetworkPolicy = Type.Object(
  {
    mode: Type.Enum([...NETWORK_MODES], {
      description: 'off: nothing; allowlist: allowed_domains; full: any host',
    }),
    allowed_domains: Type.Array(Type.String({ pattern: DOMAIN_PATTERN }), { default: [] }),
    /** Wins over allowed_domains and over mode `full`. */
    denied_domains: Type.Array(Type.String({ pattern: DOMAIN_PATTERN }), { default: [] }),
    /** Absent: 80 and 443. */
    allowed_ports: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }))),
    /** Absent: any method. Present: plain HTTP limited to these, and CONNECT refused (a tunnel hides its methods). */
    allowed_methods: Type.Optional(Type.Array(Type.Enum([...HTTP_METHODS]))),
  },
  { additionalProperties: false },
);
export type EgressNetworkPolicy = Static<typeof EgressNetworkPolicy>;

export const ESCALATIONS = ['none', 'guardian', 'user'] as const;
export const GRANT_SCOPES = ['once', 'thread'] as const;
export type Escalation = (typeof ESCALATIONS)[number];
export type GrantScope = (typeof GRANT_SCOPES)[number];

export const SandboxEgressRecord = Type.Object(
  {
    sandbox_id: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
    tenant: Type.String({ minLength: 1 }),
    thread_id: Type.String({ minLength: 1 }),
    /** Docker network name the sandbox is attached to (the proxy listener's network). */
    network: Type.String({ minLength: 1 }),
    /** The sandbox's address on that network: the connection source the proxy trusts. */
    address: Type.String({ minLength: 1 }),
    policy: EgressNetworkPolicy,
    /**
     * What happens to an allowlist miss: `none` refuses it; `guardian` holds it for a review.
     * The worker sets `guardian` when approval_policy != never and approvals_reviewer = auto_review.
     */
    escalation: Type.Enum([...ESCALATIONS]),
    /**
     * How far an approved review reaches: `once` lets the held request through only; `thread` also
     * lets later requests of the thread to the same host and port through. A verdict carrying
     * `grant_scope: "once"` narrows `thread` to once; nothing widens `once`.
     */
    grant_scope: Type.Enum([...GRANT_SCOPES]),
    policy_context: PolicyContext,
    updated_at_ms: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);
export type SandboxEgressRecord = Static<typeof SandboxEgressRecord>;

/**
 * What an exec gets in its proxy URL (`http://<sandbox_id>:<token>@<gateway>:<port>`): Redis keeps
 * this under the token's sha256, with a TTL, so a token is stale once the exec ends (revoked) or expires.
 */
export const ExecCredential = Type.Object(
  {
    sandbox_id: Type.String({ minLength: 1 }),
    exec_id: Type.String({ minLength: 1 }),
    turn_id: Type.Optional(Type.String()),
    expires_at_ms: Type.Number(),
    /** Domains approved for this exec only (e.g. a reviewed command that asked for the network). */
    extra_allowed_domains: Type.Optional(Type.Array(Type.String({ pattern: DOMAIN_PATTERN }))),
    /** The exec's trace context: the proxy's decisions for it join the turn's trace. */
    trace: Type.Optional(TraceCarrier),
    /** The command this exec runs: a network review names it as the request's trigger. */
    command: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
    /** The turn's compact transcript when the exec started: a network review sees what a command review sees. */
    transcript: Type.Optional(Type.Array(TranscriptItem, { maxItems: 100 })),
  },
  { additionalProperties: false },
);
export type ExecCredential = Static<typeof ExecCredential>;

/** A thread-wide grant left by an approved review with scope `thread`. */
export type ThreadGrant = { review_id: string; granted_at_ms: number };
