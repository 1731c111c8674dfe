// Orchestrator entry: config, the orchestrator's parts, listen; closes on SIGTERM.
import { closeOnSignals, createLogger, shutdownBudget, startTelemetry } from '@paddock/platform';
import { loadClusterSettings, redisLimits, requireRedisUrl } from '@paddock/config';
import { configureStreamRetention } from '@paddock/contracts';
import { startOrchestrator } from './orchestrator.ts';
import { orchestratorSettings } from './settings.ts';

const logger = createLogger('orchestrator');
const cluster = loadClusterSettings();
// Every stream this process writes is trimmed to the [redis] bounds.
configureStreamRetention(redisLimits(cluster.file));
const telemetry = await startTelemetry('orchestrator');
const settings = orchestratorSettings(cluster);
const orchestrator = await startOrchestrator({
  redisUrl: requireRedisUrl(cluster),
  settings,
  metrics: { host: cluster.orchestrator.host, port: settings.metricsPort },
  clusterFile: cluster.file,
  logger,
});
await orchestrator.app.listen({ host: cluster.orchestrator.host, port: cluster.orchestrator.port });

closeOnSignals(logger, [
  { name: 'orchestrator', close: () => orchestrator.close() },
  { name: 'telemetry', close: () => telemetry.shutdown() },
], shutdownBudget(cluster.shutdownGraceMs).deadlineMs);
