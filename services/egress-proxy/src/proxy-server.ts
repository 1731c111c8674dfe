// The egress proxy's server. Until per-sandbox policy exists every proxied request is refused
// (fail closed); origin-form GET /healthz is answered for operators.
import { createServer, type Server } from 'node:http';

export function createProxyServer(): Server {
  const server = createServer((req, res) => {
    if (req.url === '/healthz' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    res
      .writeHead(403, { 'content-type': 'text/plain', 'x-paddock-reason': 'blocked-no-policy' })
      .end(
        'Refused by the sandbox network policy (no policy for this source). Do not try to work around it.\n',
      );
  });
  server.on('connect', (_req, socket) => {
    socket.end('HTTP/1.1 403 Forbidden\r\nx-paddock-reason: blocked-no-policy\r\ncontent-length: 0\r\n\r\n');
  });
  return server;
}
