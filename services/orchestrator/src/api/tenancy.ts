// HTTP schemas of tenancy: workspaces, members, access tokens, requirements, audit log.
import Type, { type Static } from 'typebox';
import { SCOPES } from '../scopes.ts';
import { Page, PageQuery, Timestamp } from './common.ts';

export const ROLES = ['owner', 'admin', 'member'] as const;
export type Role = (typeof ROLES)[number];

export const CreateWorkspaceBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    owner_email: Type.String({ format: 'email', maxLength: 320, description: 'The first owner' }),
  },
  { additionalProperties: false },
);
export type CreateWorkspaceBody = Static<typeof CreateWorkspaceBody>;

export const AccessTokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  member_email: Type.String({ description: 'Whose token it is' }),
  created_by: Type.String(),
  created_at: Timestamp,
  expires_at: Type.Union([Timestamp, Type.Null()]),
  revoked_at: Type.Union([Timestamp, Type.Null()]),
  scopes: Type.Array(Type.Enum([...SCOPES]), { description: 'What the token may be used for' }),
});
export type AccessTokenView = Static<typeof AccessTokenView>;

/** Only the create answer carries the secret, once. */
export const CreatedAccessToken = Type.Object({
  ...AccessTokenView.properties,
  secret: Type.String({ description: 'Shown once; send as Authorization: Bearer <secret>' }),
});

export const Workspace = Type.Object({ id: Type.String(), name: Type.String(), created_at: Timestamp });

export const CreateWorkspaceResponse = Type.Object({
  workspace: Workspace,
  owner_token: CreatedAccessToken,
});

export const AddMemberBody = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 320 }),
    role: Type.Enum([...ROLES]),
    can_create_tokens: Type.Boolean(),
    can_view_analytics: Type.Optional(
      Type.Boolean({ description: 'Analytics viewer permission for a member (default false)' }),
    ),
  },
  { additionalProperties: false },
);
export type AddMemberBody = Static<typeof AddMemberBody>;

export const Member = Type.Object({
  email: Type.String(),
  role: Type.Enum([...ROLES]),
  can_create_tokens: Type.Boolean(),
  can_view_analytics: Type.Boolean({
    description: 'May read /v1/analytics (owners and admins always may)',
  }),
  added_by: Type.String(),
  added_at: Timestamp,
});
export type Member = Static<typeof Member>;

export const AddMemberResponse = Type.Object({
  member: Member,
  /** The member's first token (the only way in for a new member), shown once. */
  access_token: CreatedAccessToken,
});

export const MemberPage = Page(Member);

/** What an owner or admin may change about a member; at least one key. */
export const UpdateMemberBody = Type.Object(
  {
    role: Type.Optional(Type.Enum([...ROLES])),
    can_create_tokens: Type.Optional(Type.Boolean()),
    can_view_analytics: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateMemberBody = Static<typeof UpdateMemberBody>;

export const MemberParams = Type.Object({
  ws: Type.String({ minLength: 1, maxLength: 100 }),
  email: Type.String({ minLength: 3, maxLength: 320 }),
});

export const RemovedMember = Type.Object({
  member: Member,
  /** The removed member's tokens that were live and are now revoked. */
  revoked_token_ids: Type.Array(Type.String()),
});

export const CreateAccessTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    expires_in_days: Type.Union([Type.Integer({ minimum: 1, maximum: 3650 }), Type.Null()]),
    scopes: Type.Optional(
      Type.Array(Type.Enum([...SCOPES]), {
        minItems: 1,
        uniqueItems: true,
        description: 'What the token may be used for; default every scope (a scope never widens a role)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateAccessTokenBody = Static<typeof CreateAccessTokenBody>;

export const AccessTokenPage = Page(AccessTokenView);
export const WorkspaceParams = Type.Object({ ws: Type.String({ minLength: 1, maxLength: 100 }) });
export const TokenParams = Type.Object({
  ws: Type.String({ minLength: 1, maxLength: 100 }),
  id: Type.String({ minLength: 1, maxLength: 100 }),
});

export const AuditQuery = Type.Object(
  {
    ...PageQuery.properties,
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive start' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive end' })),
  },
  { additionalProperties: false },
);

export const AuditExportQuery = Type.Object(
  {
    format: Type.Optional(
      Type.Enum(['jsonl', 'csv'], { default: 'jsonl', description: 'jsonl: one entry per line; csv: a fixed header' }),
    ),
    start_time: Type.Optional(Type.Integer({ minimum: 0, description: 'Inclusive start, Unix seconds (default: the oldest entry kept)' })),
    end_time: Type.Optional(Type.Integer({ minimum: 1, description: 'Exclusive end, Unix seconds (default: now)' })),
  },
  { additionalProperties: false },
);

export const AuditEntry = Type.Object({
  id: Type.String(),
  at: Timestamp,
  actor: Type.String({ description: 'member email, or "operator"' }),
  token_id: Type.Union([Type.String(), Type.Null()]),
  action: Type.String({ description: 'e.g. token.created, token.revoked, turn.created' }),
  target: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
});
export type AuditEntry = Static<typeof AuditEntry>;
export const AuditPage = Page(AuditEntry);
