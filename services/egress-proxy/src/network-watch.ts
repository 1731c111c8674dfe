// Sandbox networks appear while the proxy runs (each worker creates its own at start-up): this
// polls the workers' network records in Redis and listens on each new network's gateway, and stops
// listening when a record goes away. Networks named in [egress_proxy].sandbox_networks are static.
import { type SandboxNetworkRecord, sandboxKeys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EgressProxy } from './proxy-server.ts';

export type NetworkWatch = { stop: () => void; refresh: () => Promise<void> };

export function watchSandboxNetworks(o: {
  redis: Redis;
  proxy: EgressProxy;
  port: number;
  intervalMs: number;
  logger: Logger;
  /** Network names that have a static listener already. */
  staticNetworks?: readonly string[];
}): NetworkWatch {
  const active = new Map<string, string>(); // network name -> gateway it listens on
  const pattern = sandboxKeys.network('*');
  let running: Promise<void> | undefined;

  async function scan(): Promise<SandboxNetworkRecord[]> {
    const found: SandboxNetworkRecord[] = [];
    let cursor = '0';
    do {
      const [next, names] = await o.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 200);
      cursor = next;
      const values = names.length > 0 ? await o.redis.mget(names) : [];
      for (const raw of values) {
        if (!raw) continue;
        try {
          found.push(JSON.parse(raw) as SandboxNetworkRecord);
        } catch {
          o.logger.warn({ raw: raw.slice(0, 200) }, 'unreadable sandbox network record');
        }
      }
    } while (cursor !== '0');
    return found;
  }

  async function pass(): Promise<void> {
    const records = await scan();
    const seen = new Set<string>();
    for (const r of records) {
      if (o.staticNetworks?.includes(r.name)) continue;
      seen.add(r.name);
      if (active.get(r.name) === r.gateway) continue;
      if (r.proxyPort !== o.port) {
        o.logger.warn({ network: r.name, want: r.proxyPort, port: o.port }, 'sandbox network expects another proxy port');
        continue;
      }
      if (active.has(r.name)) await o.proxy.unlisten(r.name);
      try {
        await o.proxy.listen({ network: r.name, host: r.gateway, port: o.port });
        active.set(r.name, r.gateway);
      } catch (err) {
        // The bridge may not be up yet, or is gone already: the next pass tries again.
        o.logger.warn({ network: r.name, gateway: r.gateway, err: (err as Error).message }, 'cannot listen on sandbox network');
      }
    }
    for (const name of [...active.keys()]) {
      if (seen.has(name)) continue;
      active.delete(name);
      await o.proxy.unlisten(name);
      o.logger.info({ network: name }, 'sandbox network gone: listener stopped');
    }
  }

  const refresh = () => {
    running ??= pass()
      .catch((err: Error) => o.logger.warn({ err: err.message }, 'sandbox network scan failed'))
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void refresh(), o.intervalMs);
  timer.unref();
  void refresh();
  return { stop: () => clearInterval(timer), refresh };
}
