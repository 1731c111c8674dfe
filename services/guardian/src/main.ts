// Guardian entry: config, the HTTP app; closes on SIGTERM.
import { closeOnSignals, createLogger, loadClusterSettings, startTelemetry } from '@paddock/shared';
import { buildApp } from './app.ts';

const logger = createLogger('guardian');
const settings = loadClusterSettings();
const telemetry = await startTelemetry('guardian');
const app = await buildApp({ logger });
await app.listen({ host: settings.guardian.host, port: settings.guardian.port });

closeOnSignals(logger, [
  { name: 'http', close: () => app.close() },
  { name: 'telemetry', close: () => telemetry.shutdown() },
]);
