// The egress-proxy service's composition root: the one module other processes (main.ts, the e2e suite,
// the benchmarks) import; package.json exports it and nothing else of src/.
export { watchSandboxNetworks } from './network-watch.ts';
export type { NetworkWatch } from './network-watch.ts';
export { createEgressProxy } from './proxy-server.ts';
export type { EgressProxy } from './proxy-server.ts';
export { createResolver } from './resolver.ts';
export { egressProxySettings } from './settings.ts';
