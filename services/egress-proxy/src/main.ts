// Egress proxy entry: config, the proxy server; closes on SIGTERM.
import { closeOnSignals, createLogger, loadClusterSettings, startTelemetry } from '@paddock/shared';
import { createProxyServer } from './proxy-server.ts';

const logger = createLogger('egress-proxy');
const settings = loadClusterSettings();
const telemetry = await startTelemetry('egress-proxy');
const server = createProxyServer();
await new Promise<void>((resolve) =>
  server.listen(settings.egressProxy.port, settings.egressProxy.host, resolve),
);
logger.info({ host: settings.egressProxy.host, port: settings.egressProxy.port }, 'egress proxy listening');

closeOnSignals(logger, [
  {
    name: 'proxy',
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  },
  { name: 'telemetry', close: () => telemetry.shutdown() },
]);
