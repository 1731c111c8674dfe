// One cluster service in its own process for the chaos suite, so it can be SIGKILLed: SERVICE is
// orchestrator | egress-proxy | guardian, its options in SERVICE_OPTIONS (JSON, from the cluster);
// it listens where told (a fixed port, so a restart answers at the same address) and prints "ready".
import { createLogger, createRedis } from '@paddock/platform';
import { startOrchestrator } from '@paddock/orchestrator';
import { startEgressProxy } from '@paddock/egress-proxy';
import { buildApp as buildGuardian, type GuardianSettings } from '@paddock/guardian';

const kind = process.env['SERVICE'];
const raw = process.env['SERVICE_OPTIONS'];
if (!kind || !raw) throw new Error('SERVICE and SERVICE_OPTIONS are required');
const options = JSON.parse(raw) as Record<string, unknown>;
const logger = createLogger(`chaos-${kind}`, process.env['SERVICE_LOG_LEVEL'] ?? 'warn');

if (kind === 'orchestrator') {
  const { listenPort, ...o } = options as Parameters<typeof startOrchestrator>[0] & { listenPort: number };
  const orchestrator = await startOrchestrator({ ...o, logger });
  await orchestrator.app.listen({ host: '127.0.0.1', port: listenPort });
} else if (kind === 'egress-proxy') {
  const { redisUrl, ...o } = options as Omit<Parameters<typeof startEgressProxy>[0], 'redis' | 'logger'> & { redisUrl: string };
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
  redis.on('error', () => {}); // the proxy fails closed per request; reconnects on its own
  await startEgressProxy({ ...o, redis, logger });
} else if (kind === 'guardian') {
  const settings = options as unknown as GuardianSettings;
  const app = await buildGuardian({ logger, settings });
  await app.listen({ host: settings.host, port: settings.port });
} else {
  throw new Error(`unknown SERVICE ${kind}`);
}
process.stdout.write('ready\n');
setInterval(() => {}, 60_000);
