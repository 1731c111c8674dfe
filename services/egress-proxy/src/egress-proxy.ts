// The egress-proxy service's composition root: startEgressProxy wires the proxy, its resolver, the
// guardian client, its listeners and the sandbox-network watch; main.ts and the e2e suite call it.
// The one module other processes import (package.json exports it and nothing else of src/).
import { createGuardianClient } from '@paddock/contracts';
import type { Logger } from '@paddock/platform';
import type { Redis } from 'ioredis';
import { type NetworkWatch, watchSandboxNetworks } from './network-watch.ts';
import { createEgressProxy, type EgressProxy, type Listener, type ProxyOptions } from './proxy-server.ts';
import { createResolver } from './resolver.ts';

export type RunningEgressProxy = {
  proxy: EgressProxy;
  networks: NetworkWatch;
  /**
   * Stops the watch and the listeners; with `drainMs`, open tunnels may run that long first
   * (proxy-server.ts). The Redis connection is the caller's to close.
   */
  close(drainMs?: number): Promise<void>;
};

export async function startEgressProxy(o: {
  redis: Redis;
  logger: Logger;
  guardianUrl: string;
  /** The guardian's service credential ([guardian].service_token_env). */
  guardianServiceToken: string;
  /** Listeners started now (the operator's `host` one, configured sandbox networks). */
  listeners: Listener[];
  /** The port of the listeners the watch adds for sandbox networks recorded in Redis later. */
  port: number;
  hosts?: Record<string, string[]>;
  /** false: only `hosts` resolve (tests); default true. */
  useDns?: boolean;
  options?: Partial<ProxyOptions>;
  watchIntervalMs?: number;
}): Promise<RunningEgressProxy> {
  const proxy = createEgressProxy({
    redis: o.redis,
    guardian: createGuardianClient({ url: o.guardianUrl, serviceToken: o.guardianServiceToken }),
    lookup: createResolver({ hosts: o.hosts ?? {}, ...(o.useDns === undefined ? {} : { useDns: o.useDns }) }),
    logger: o.logger,
    ...(o.options ? { options: o.options } : {}),
  });
  for (const listener of o.listeners) await proxy.listen(listener);
  // Networks the sandbox workers create later (their records in Redis) get a listener too.
  const networks = watchSandboxNetworks({
    redis: o.redis,
    proxy,
    port: o.port,
    intervalMs: o.watchIntervalMs ?? 1000,
    logger: o.logger,
    staticNetworks: o.listeners.map((l) => l.network),
  });
  return {
    proxy,
    networks,
    close: async (drainMs?: number) => {
      networks.stop();
      await proxy.close(drainMs);
    },
  };
}

// What other processes (the e2e suite, the defaults test) use besides startEgressProxy.
export type { NetworkWatch } from './network-watch.ts';
export type { EgressProxy, Listener, ProxyOptions } from './proxy-server.ts';
export { egressProxySettings } from './settings.ts';
