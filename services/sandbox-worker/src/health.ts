// The worker's health probe for operators: GET /healthz (process up), GET /readyz (Redis and
// the Docker engine answer) and GET /metrics (Prometheus text; sandboxes never reach this port).
import { createServer, type Server } from 'node:http';
import { serveMetrics } from '@paddock/platform';

export type ReadinessCheck = { name: string; check: () => Promise<unknown> };

export function createHealthServer(checks: ReadinessCheck[]): Server {
  return createServer(async (req, res) => {
    const json = (code: number, body: unknown) =>
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'GET' && req.url === '/healthz') return json(200, { status: 'ok' });
    if (req.method === 'GET' && req.url === '/metrics') return serveMetrics(req, res);
    if (req.method === 'GET' && req.url === '/readyz') {
      const failures: Record<string, string> = {};
      await Promise.all(
        checks.map(async (c) => {
          try {
            await c.check();
          } catch (err) {
            failures[c.name] = (err as Error).message;
          }
        }),
      );
      return Object.keys(failures).length === 0
        ? json(200, { status: 'ready' })
        : json(503, { error: { code: 'unavailable', message: 'not ready', details: failures } });
    }
    return json(404, { error: { code: 'not_found', message: 'no such probe' } });
  });
}
