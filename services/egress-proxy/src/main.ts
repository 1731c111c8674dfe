// Egress proxy entry: config, Redis, then the composition root (egress-proxy.ts); closes on SIGTERM.
import { closeOnSignals, createLogger, createRedis, startTelemetry } from '@paddock/platform';
import { loadClusterSettings, redisLimits, requireRedisUrl } from '@paddock/config';
import { configureStreamRetention, requireServiceToken } from '@paddock/contracts';
import { startEgressProxy } from './egress-proxy.ts';
import { egressProxySettings } from './settings.ts';

const logger = createLogger('egress-proxy');
const settings = loadClusterSettings();
// Every stream this process writes is trimmed to the [redis] bounds.
configureStreamRetention(redisLimits(settings.file));
const proxySettings = egressProxySettings(settings);
const telemetry = await startTelemetry('egress-proxy');
// Fail fast when Redis is away: a request whose policy cannot be read is refused, not queued.
// Auto-pipelining batches the per-request policy reads of concurrent requests into one write.
const redis = createRedis(requireRedisUrl(settings), {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  enableAutoPipelining: true,
});
await new Promise<void>((resolve, reject) => {
  redis.once('ready', resolve);
  redis.once('error', reject);
});
redis.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));

const running = await startEgressProxy({
  redis,
  logger,
  guardianUrl: proxySettings.guardianUrl,
  guardianServiceToken: requireServiceToken(settings),
  listeners: proxySettings.listeners,
  port: settings.egressProxy.port,
  hosts: proxySettings.hosts,
  options: proxySettings.options,
});

closeOnSignals(logger, [
  { name: 'proxy', close: () => running.close() },
  { name: 'redis', close: () => redis.quit() },
  { name: 'telemetry', close: () => telemetry.shutdown() },
]);
