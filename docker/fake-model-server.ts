// The tests' scriptable model server (startFakeModel) run as a process: the offline stand-in for a
// model provider in docker-compose.offline.yml. Listens on FAKE_MODEL_HOST:FAKE_MODEL_PORT and prints
// its URL. Requests that ask for structured output (a guardian review) get FAKE_MODEL_VERDICT (JSON)
// or a low-risk "allow"; others get FAKE_MODEL_TEXT, so an agent turn ends after one model call.
import { connect, createServer } from 'node:net';
import { startFakeModel } from '@paddock/testing/fake-model';

const host = process.env['FAKE_MODEL_HOST'] || '127.0.0.1';
const port = Number(process.env['FAKE_MODEL_PORT'] || 8090);
const verdict = process.env['FAKE_MODEL_VERDICT']
  ? (JSON.parse(process.env['FAKE_MODEL_VERDICT']) as unknown)
  : {
      risk_level: 'low',
      user_authorization: 'unknown',
      outcome: 'allow',
      rationale: 'offline fake model: low-risk action',
    };
const text = process.env['FAKE_MODEL_TEXT'] || 'done';

const model = await startFakeModel();
model.setHandler((req) => {
  const wantsSchema = req.body['response_format'] !== undefined || req.body['text'] !== undefined;
  return wantsSchema ? { kind: 'json', value: verdict } : { kind: 'text', text };
});

// startFakeModel binds loopback on a free port; this forwards the configured address to it, so the
// harness stays as the tests use it. Requests are not kept (a long-running server would grow).
const inner = new URL(model.url);
const forwarder = createServer((client) => {
  const target = connect(Number(inner.port), inner.hostname);
  client.pipe(target).pipe(client);
  const drop = () => {
    client.destroy();
    target.destroy();
  };
  client.on('error', drop);
  target.on('error', drop);
  client.on('close', drop);
  target.on('close', drop);
});
const trim = setInterval(() => model.requests.splice(0), 10_000);
await new Promise<void>((resolve) => forwarder.listen(port, host, resolve));
console.log(`fake model listening: http://${host}:${port}/v1`);

const stop = () => {
  clearInterval(trim);
  forwarder.close();
  void model.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
