// @paddock/contracts: what two services speak: Redis keys, turn records and events, review request and verdict, egress and sandbox records.
// Its public surface: every module another package or service imports, and nothing else.
export * from './analytics.ts';
export * from './egress/decision.ts';
export * from './egress/egress-record.ts';
export * from './egress/reasons.ts';
export * from './keyspace.ts';
export * from './redis-acl.ts';
export * from './review/action-hash.ts';
export * from './review/client.ts';
export * from './review/contract.ts';
export * from './review/service-token.ts';
export * from './sandbox/exec.ts';
export * from './sandbox/labels.ts';
export * from './sandbox/network-record.ts';
export * from './sandbox/thread-deletions.ts';
export * from './sandbox/worker-internal.ts';
export * from './turns/audit.ts';
export * from './turns/events.ts';
export * from './turns/records.ts';
export * from './webhooks.ts';
