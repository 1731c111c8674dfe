// The egress contract between the sandbox worker and the egress proxy.
export * from './decision.ts';
export * from './keys.ts';
export * from './policy.ts';
export * from './reasons.ts';
export * from './store.ts';
