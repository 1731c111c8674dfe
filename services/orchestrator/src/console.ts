// Serves the web console (packages/console, built by `npm ci`) at /console/: static files only, with
// a strict Content-Security-Policy (scripts, styles and API calls from this origin only; no inline
// script or style, no framing). The console signs in with an access token and uses the public /v1 API
// like any client, so serving it needs no authentication and grants nothing.
import fastifyStatic from '@fastify/static';
import { consoleAssetsDir, consoleBuilt } from '@paddock/console';
import type { FastifyInstance } from 'fastify';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

export async function registerConsole(app: FastifyInstance): Promise<void> {
  app.get('/console', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/console/', 301));
  if (!consoleBuilt()) {
    app.get('/console/*', { schema: { hide: true } }, async (_req, reply) =>
      reply.code(503).send({
        error: { code: 'console_not_built', message: 'the console is not built: run `npm ci` (it builds packages/console)' },
      }),
    );
    return;
  }
  await app.register(async (scope) => {
    scope.addHook('onSend', async (req, reply, payload) => {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
      // Hashed asset names never change: cache them for good; the page itself is always re-read.
      const asset = req.url.startsWith('/console/assets/') && reply.statusCode === 200;
      reply.header('cache-control', asset ? 'public, max-age=31536000, immutable' : 'no-store');
      return payload;
    });
    await scope.register(fastifyStatic, {
      root: consoleAssetsDir,
      prefix: '/console/',
      decorateReply: false,
      index: ['index.html'],
      wildcard: true,
      cacheControl: false,
    });
  });
}
