// GET /v1/whoami: who the presented token speaks for (workspace, member, role, token, scopes), so a
// client (the `paddock` CLI) can check a token before using it. Reads nothing but the principal the
// auth hook already resolved; answers only about the caller's own workspace.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { ROLES } from '../api/tenancy.ts';
import { ErrorResponse } from '../api/common.ts';
import { principalOf } from '../auth.ts';

export const Whoami = Type.Object({
  workspace_id: Type.String(),
  email: Type.String(),
  role: Type.Enum([...ROLES]),
  token_id: Type.String(),
  scopes: Type.Array(Type.String()),
});

export function whoamiRoutes(app: FastifyInstance): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get(
    '/v1/whoami',
    {
      // threads.read: the scope every working token has; a token scoped to admin work only is told 403.
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'whoami',
        summary: 'The workspace, member, role and scopes of the presented token',
        tags: ['tenancy'],
        response: { 200: Whoami, 401: ErrorResponse, 403: ErrorResponse },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return { workspace_id: p.workspaceId, email: p.email, role: p.role, token_id: p.tokenId, scopes: [...p.scopes] };
    },
  );
}
