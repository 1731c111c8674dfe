// Environments: image, setup script, and an agent config layer (TOML) checked when created. The
// image must be on the operator's allowlist and, when workers have published their engines' image
// inventories, held by one of them (the orchestrator has no engine of its own to ask).
import { imageOnSomeEngine } from '@paddock/contracts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { imageAllowed, imageNotAllowedMessage, newId, PaddockError } from '@paddock/platform';
import { parseRulesFile, readAgentLayer } from '@paddock/config';
import { checkRepositoryAllowed, ignoredKeysInfo } from '../effective-config.ts';
import { CreateEnvironmentBody, Environment, EnvironmentPage, IdParams } from '../api/threads.ts';
import { ErrorResponse, PageQuery } from '../api/common.ts';
import type { FastifyInstance } from 'fastify';
import { audit } from '../stores/audit.ts';
import { actorOf, ownedBy, principalOf } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { pageLimit, zsetPage } from '../paging.ts';
import { loadEnvironment, saveNewEnvironment, workspaceEnvironmentIds } from '../stores/environments.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

export function environmentRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/environments',
    {
      config: { scope: 'environments.write' },
      schema: {
        operationId: 'createEnvironment',
        summary: 'Create an environment',
        tags: ['environments'],
        body: CreateEnvironmentBody,
        response: { 201: Environment, ...errors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const config = req.body.config ?? '';
      const ignored: string[] = [];
      // Refuses bad TOML, unknown keys and keys a member may not set, naming them; Codex keys that do
      // not apply here are reported (ignored_keys, one log line), never a reason to refuse the file.
      readAgentLayer({ source: 'config', text: config }, 'environment', {
        onIgnoredKeys: (source, keys) => {
          ignored.push(...keys);
          ignoredKeysInfo(req.log)(source, keys);
        },
      });
      if (req.body.rules !== undefined) {
        // Codex's rules file: parsed and its examples checked now, so a bad file is refused at once.
        const file = parseRulesFile(req.body.rules, 'rules');
        const calls = file.ignored.map((c) => `rules.${c.call} (line ${c.line})`);
        if (calls.length > 0) {
          ignored.push(...calls);
          ignoredKeysInfo(req.log)('rules', calls);
        }
      }
      if (!imageAllowed(ctx.settings.allowedImages, req.body.image))
        throw new PaddockError('image_not_allowed', imageNotAllowedMessage(req.body.image), {
          status: 400,
          field: 'image',
        });
      // Allowed, but does an engine have it? The workers publish their inventories (no registry here).
      if ((await imageOnSomeEngine(ctx.redis, req.body.image.trim())) === false)
        throw new PaddockError('image_missing', `image ${JSON.stringify(req.body.image)} is on no sandbox worker's engine`, {
          status: 400,
          field: 'image',
        });
      if (req.body.repository) await checkRepositoryAllowed(ctx, p.workspaceId, req.body.repository);
      const env: Environment = {
        id: newId('env'),
        workspace_id: p.workspaceId,
        name: req.body.name,
        image: req.body.image,
        setup_script: req.body.setup_script ?? '',
        config,
        ...(req.body.repository ? { repository: req.body.repository } : {}),
        ...(req.body.rules !== undefined ? { rules: req.body.rules } : {}),
        created_by: p.email,
        created_at: new Date().toISOString(),
      };
      await saveNewEnvironment(ctx.redis, env);
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'environment.created', env.id, { image: env.image });
      return reply.code(201).send(ignored.length > 0 ? { ...env, ignored_keys: ignored } : env);
    },
  );

  r.get(
    '/v1/environments',
    {
      config: { scope: 'environments.read' },
      schema: {
        operationId: 'listEnvironments',
        summary: "List the workspace's environments",
        tags: ['environments'],
        querystring: PageQuery,
        response: { 200: EnvironmentPage, ...errors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const page = await zsetPage(
        (start, stop) => workspaceEnvironmentIds(ctx.redis, p.workspaceId, start, stop),
        req.query.cursor,
        pageLimit(ctx.settings, req.query.limit),
      );
      const envs = await Promise.all(page.ids.map((id) => loadEnvironment(ctx.redis, id)));
      return { items: envs.filter((e) => e !== undefined), next_cursor: page.next_cursor };
    },
  );

  r.get(
    '/v1/environments/:id',
    {
      config: { scope: 'environments.read' },
      schema: {
        operationId: 'getEnvironment',
        summary: 'One environment',
        tags: ['environments'],
        params: IdParams,
        response: { 200: Environment, ...errors },
      },
    },
    async (req) => ownedBy(principalOf(req), await loadEnvironment(ctx.redis, req.params.id), 'environment'),
  );
}
