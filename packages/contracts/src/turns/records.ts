// The records the orchestrator stores and the worker reads: turns (and the BullMQ job payload),
// their statuses, and how they are kept in Redis hashes.
import Type, { type Static } from 'typebox';
import type { EffectiveConfig } from '@paddock/config';
import type { TraceCarrier } from '@paddock/platform';
import type { Client } from '../analytics.ts';

export const TURN_STATUSES = [
  'queued',
  'running',
  'completed',
  'failed',
  'interrupted',
  'cancelled',
] as const;
export type TurnStatus = (typeof TURN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly TurnStatus[] = ['completed', 'failed', 'interrupted', 'cancelled'];

export const Command = Type.Object(
  {
    argv: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'Program and arguments' })),
    cmd: Type.Optional(Type.String({ minLength: 1, description: 'A shell command line (run by bash -lc)' })),
    cwd: Type.Optional(Type.String({ pattern: '^/', description: 'must be an absolute path' })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })),
    escalate: Type.Optional(
      Type.Object(
        { justification: Type.String({ minLength: 1, maxLength: 4000 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Command = Static<typeof Command>;

/**
 * The repository a thread's workspace starts from: a URL the worker fetches (its host on the
 * operator's list), a ref (branch, tag or commit; default the remote's HEAD), and at most the NAME
 * of an operator-defined credential. A tenant never supplies a secret or a variable name.
 */
export const RepositorySpec = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2000, pattern: '^https?://', description: 'https:// (or http://) clone URL, no user or password' }),
    ref: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9._/+-]+$', description: 'Branch, tag or commit; default the remote HEAD' }),
    ),
    credential: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$', description: "Name of one of the cluster's [sandbox_worker.repository_credentials]" }),
    ),
  },
  { additionalProperties: false },
);
export type RepositorySpec = Static<typeof RepositorySpec>;

/** The BullMQ job payload of one turn (job id = turn id). */
export type TurnJob = {
  turn_id: string;
  thread_id: string;
  workspace_id: string;
  environment: { id: string; image: string; setup_script: string; repository?: RepositorySpec };
  input?: string;
  commands?: Command[];
  /** The effective config resolved when the turn was accepted. */
  config: EffectiveConfig;
  /** When the API accepted it (epoch ms): the start of its queue wait. */
  accepted_at_ms?: number;
  /** The trace context of the request that queued it: the turn's spans join that trace. */
  trace?: TraceCarrier;
  /** The e-mail of the token's owner who submitted it (absent on records older than analytics). */
  created_by?: string;
  /** This workspace's idle retention of a stopped workspace when a requirement lowers the cluster's (ms). */
  workspace_retention_ms?: number;
  /** The client it came through (`X-Paddock-Client`, else the User-Agent family); absent on old records. */
  client?: Client;
};

export type TurnRecord = {
  id: string;
  thread_id: string;
  workspace_id: string;
  seq: number;
  status: TurnStatus;
  created_at: string;
  created_by: string;
  started_at?: string;
  finished_at?: string;
  error?: { code: string; message: string };
  interrupt_requested?: boolean;
  job: TurnJob;
};

/** Redis hash fields -> record. The job is one JSON field; the rest are flat so Lua can update them. */
export function turnFromHash(h: Record<string, string>): TurnRecord | undefined {
  if (!h['id'] || !h['job']) return undefined;
  const rec: TurnRecord = {
    id: h['id'],
    thread_id: h['thread_id'] ?? '',
    workspace_id: h['workspace_id'] ?? '',
    seq: Number(h['seq']),
    status: (h['status'] === 'dispatched' ? 'queued' : h['status']) as TurnStatus,
    created_at: h['created_at'] ?? '',
    created_by: h['created_by'] ?? '',
    job: JSON.parse(h['job']) as TurnJob,
  };
  if (h['started_at']) rec.started_at = h['started_at'];
  if (h['finished_at']) rec.finished_at = h['finished_at'];
  if (h['error_code']) rec.error = { code: h['error_code'], message: h['error_message'] ?? '' };
  if (h['interrupt_requested'] === '1') rec.interrupt_requested = true;
  return rec;
}
