// Sandbox contracts shared by the worker, the egress proxy and the orchestrator.
export * from './exec.ts';
export * from './keys.ts';
export * from './labels.ts';
export * from './network.ts';
export * from './thread-deletions.ts';
