// The bench's second baseline: the least a Node forward proxy can do on this machine — node:http's
// server and a keep-alive Agent for plain requests, a socket pipe for CONNECT — with no identity,
// policy, address check, records or timers. Measured beside Paddock's proxy and Squid, it separates
// what Paddock's checks cost from what Node's HTTP stack costs. Loopback only: it forwards to
// 127.0.0.1 (the bench's upstream) whatever host it is asked for.
import { Agent, createServer, request } from 'node:http';
import { connect, type Socket } from 'node:net';

const agent = new Agent({ keepAlive: true, maxFreeSockets: 1024, scheduling: 'lifo' });
const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const url = new URL(req.url ?? '/');
  const upstream = request(
    { host: '127.0.0.1', port: Number(url.port), path: url.pathname, method: req.method, headers: { host: url.host }, agent, setHost: false },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
server.on('connect', (req, client: Socket, head: Buffer) => {
  const port = Number((req.url ?? '').split(':').pop());
  const upstream = connect({ host: '127.0.0.1', port, noDelay: true }, () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  const done = () => {
    upstream.destroy();
    client.destroy();
  };
  upstream.on('error', done);
  client.on('error', done);
  upstream.on('close', done);
  client.on('close', done);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
