// HTTP schemas of environments, threads, turns, approvals and denials.
import { SandboxView } from './files.ts';
import Type, { type Static } from 'typebox';
import { APPROVAL_DECISIONS } from '@paddock/turn-queue';
import { Command, RepositorySpec, TURN_STATUSES } from '@paddock/contracts';
import { Page, Timestamp } from './common.ts';

/** Agent config as a TOML text or as a JSON object (the same keys). */
export const ConfigInput = Type.Union([
  Type.String({ maxLength: 65_536, description: 'TOML' }),
  Type.Record(Type.String(), Type.Unknown(), { description: 'The same keys as JSON' }),
]);

export const CreateEnvironmentBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    image: Type.String({ minLength: 1, maxLength: 300, description: 'Sandbox image reference' }),
    setup_script: Type.Optional(Type.String({ maxLength: 65_536 })),
    config: Type.Optional(Type.String({ maxLength: 65_536, description: 'Agent config layer (TOML)' })),
    repository: Type.Optional(RepositorySpec),
    rules: Type.Optional(
      Type.String({
        maxLength: 65_536,
        description: "A Codex rules file: prefix_rule(pattern, decision, justification, match, not_match) calls; examples are checked now",
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateEnvironmentBody = Static<typeof CreateEnvironmentBody>;

export const Environment = Type.Object({
  id: Type.String(),
  workspace_id: Type.String(),
  name: Type.String(),
  image: Type.String(),
  setup_script: Type.String(),
  config: Type.String(),
  repository: Type.Optional(RepositorySpec),
  /** The environment's Codex rules file, as given (its rules join the environment layer's). */
  rules: Type.Optional(Type.String()),
  created_by: Type.String(),
  created_at: Timestamp,
  /** In a create answer only: the Codex keys of the request's config that do not apply here (dotted paths). */
  ignored_keys: Type.Optional(Type.Array(Type.String())),
});
export type Environment = Static<typeof Environment>;
export const EnvironmentPage = Page(Environment);

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
export const TurnParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  turn_id: Type.String({ minLength: 1, maxLength: 100 }),
});
export const DenialParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  denial_id: Type.String({ minLength: 1, maxLength: 100 }),
});

export const CreateThreadBody = Type.Object(
  {
    environment_id: Type.String({ minLength: 1, maxLength: 100 }),
    config: Type.Optional(ConfigInput),
    /** The thread's own repository: replaces the environment's (or gives one where it has none). */
    repository: Type.Optional(RepositorySpec),
  },
  { additionalProperties: false },
);
export type CreateThreadBody = Static<typeof CreateThreadBody>;

export const Thread = Type.Object({
  id: Type.String(),
  workspace_id: Type.String(),
  environment_id: Type.String(),
  status: Type.Enum(['active', 'deleted']),
  config: Type.Record(Type.String(), Type.Unknown(), { description: 'The thread layer as given' }),
  effective_config: Type.Record(Type.String(), Type.Unknown()),
  repository: Type.Optional(RepositorySpec),
  created_by: Type.String(),
  created_at: Timestamp,
  /** In a create answer only: the Codex keys of the request's config that do not apply here (dotted paths). */
  ignored_keys: Type.Optional(Type.Array(Type.String())),
  sandbox: Type.Optional(SandboxView),
});
export type Thread = Static<typeof Thread>;

export const ThreadListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, description: 'Page size (capped by the server)' })),
    cursor: Type.Optional(Type.String({ minLength: 1, description: 'next_cursor of the previous page' })),
    environment_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    status: Type.Optional(Type.Enum(['active', 'deleted'])),
  },
  { additionalProperties: false },
);
export const ThreadPage = Type.Object({ items: Type.Array(Thread), next_cursor: Type.Union([Type.String(), Type.Null()]) });

export const CreateTurnBody = Type.Object(
  {
    input: Type.Optional(Type.String({ minLength: 1, maxLength: 262_144 })),
    commands: Type.Optional(Type.Array(Command, { minItems: 1, maxItems: 100 })),
    config: Type.Optional(ConfigInput),
  },
  { additionalProperties: false },
);
export type CreateTurnBody = Static<typeof CreateTurnBody>;

export const TurnAccepted = Type.Object({ id: Type.String(), status: Type.Literal('queued') });

export const Turn = Type.Object({
  id: Type.String(),
  thread_id: Type.String(),
  seq: Type.Integer(),
  status: Type.Enum([...TURN_STATUSES]),
  created_at: Timestamp,
  created_by: Type.String(),
  started_at: Type.Union([Timestamp, Type.Null()]),
  finished_at: Type.Union([Timestamp, Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  interrupt_requested: Type.Boolean(),
  model: Type.String(),
});
export const TurnPage = Type.Object({ items: Type.Array(Turn), next_cursor: Type.Union([Type.String(), Type.Null()]) });

export const EventsQuery = Type.Object(
  {
    format: Type.Optional(Type.Enum(['sse', 'jsonl'])),
    follow: Type.Optional(
      Type.Boolean({ description: 'format=jsonl only: keep the response open and write each event as it happens' }),
    ),
    view: Type.Optional(
      Type.Enum(['paddock', 'codex'], {
        description: "codex: only Codex's ThreadEvent/ThreadItem types (also Accept: application/jsonl; profile=codex)",
      }),
    ),
  },
  { additionalProperties: false },
);

export const ApprovalsQuery = Type.Object(
  { status: Type.Optional(Type.Enum(['pending', 'approved', 'denied', 'aborted', 'expired'])) },
  { additionalProperties: false },
);

export const DecideApprovalBody = Type.Object(
  { decision: Type.Enum([...APPROVAL_DECISIONS]) },
  { additionalProperties: false },
);
export type DecideApprovalBody = Static<typeof DecideApprovalBody>;

export const Approval = Type.Object({
  id: Type.String(),
  thread_id: Type.String(),
  turn_id: Type.String(),
  action: Type.Record(Type.String(), Type.Unknown()),
  reason: Type.String(),
  status: Type.Enum(['pending', 'approved', 'denied', 'aborted', 'expired']),
  created_at: Timestamp,
  expires_at: Type.Optional(Timestamp),
  transcript: Type.Optional(Type.String({ description: "The last entries of the turn's transcript" })),
  decision: Type.Optional(Type.Enum([...APPROVAL_DECISIONS])),
  decided_by: Type.Optional(Type.String()),
  decided_at: Type.Optional(Timestamp),
});
export const ApprovalList = Type.Object({ items: Type.Array(Approval) });

export const Denial = Type.Object({
  id: Type.String(),
  thread_id: Type.String(),
  turn_id: Type.String(),
  action: Type.Record(Type.String(), Type.Unknown()),
  rationale: Type.String(),
  source: Type.String(),
  created_at: Timestamp,
  override: Type.Optional(Type.Object({ approved_by: Type.String(), approved_at: Timestamp })),
});
export const DenialList = Type.Object({ items: Type.Array(Denial) });
