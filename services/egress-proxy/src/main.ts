// Egress proxy entry: config, Redis, the guardian client, the proxy and its listeners; closes on SIGTERM.
import { closeOnSignals, createLogger, startTelemetry } from '@paddock/platform';
import { loadClusterSettings, requireRedisUrl } from '@paddock/config';
import { createGuardianClient, requireServiceToken } from '@paddock/contracts';
import { Redis } from 'ioredis';
import { watchSandboxNetworks } from './network-watch.ts';
import { createEgressProxy } from './proxy-server.ts';
import { createResolver } from './resolver.ts';
import { egressProxySettings } from './settings.ts';

const logger = createLogger('egress-proxy');
const settings = loadClusterSettings();
const proxySettings = egressProxySettings(settings);
const telemetry = await startTelemetry('egress-proxy');
// Fail fast when Redis is away: a request whose policy cannot be read is refused, not queued.
// Auto-pipelining batches the per-request policy reads of concurrent requests into one write.
const redis = new Redis(requireRedisUrl(settings), {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  enableAutoPipelining: true,
});
await new Promise<void>((resolve, reject) => {
  redis.once('ready', resolve);
  redis.once('error', reject);
});
redis.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));

const proxy = createEgressProxy({
  redis,
  guardian: createGuardianClient({ url: proxySettings.guardianUrl, serviceToken: requireServiceToken(settings) }),
  lookup: createResolver({ hosts: proxySettings.hosts }),
  logger,
  options: proxySettings.options,
});
for (const listener of proxySettings.listeners) await proxy.listen(listener);
// Networks the sandbox workers create later (their records in Redis) get a listener too.
const networks = watchSandboxNetworks({
  redis,
  proxy,
  port: settings.egressProxy.port,
  intervalMs: 1000,
  logger,
  staticNetworks: proxySettings.listeners.map((l) => l.network),
});

closeOnSignals(logger, [
  { name: 'networks', close: async () => networks.stop() },
  { name: 'proxy', close: () => proxy.close() },
  { name: 'redis', close: () => redis.quit() },
  { name: 'telemetry', close: () => telemetry.shutdown() },
]);
