// @paddock/config: the config schema (each key with its owner), layers, requirements, the cluster file.
// Its public surface: every module another package or service imports, and nothing else.
export * from './ceilings.ts';
export * from './cluster.ts';
export * from './defaults.ts';
export * from './env-ms.ts';
export * from './owners.ts';
export * from './resolve.ts';
export * from './schema.ts';
export * from './sections/sandbox-worker.ts';
export * from './validate.ts';
export * from './sections/analytics.ts';
export * from './sections/webhooks.ts';
export * from './sections/egress-proxy.ts';
export * from './sections/guardian.ts';
export * from './sections/orchestrator.ts';
export * from './sections/sandbox-worker.ts';
export * from './sections/cluster.ts';
export * from './codex-keys.ts';
export * from './codex-compat.ts';
export * from './rules-file.ts';
