// The benchmark's upstream: a keep-alive HTTP server on loopback answering a small body.
import { createServer } from 'node:http';

const body = Buffer.from('ok from the benchmark upstream\n');
const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
