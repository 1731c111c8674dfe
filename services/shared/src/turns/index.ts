// The turn contract between the orchestrator and the sandbox worker: keys, records, events,
// the fair scheduler, the consumer, approvals and denials.
export * from './approvals.ts';
export * from './audit.ts';
export * from './consumer.ts';
export * from './events.ts';
export * from './keys.ts';
export * from './records.ts';
export * from './scheduler.ts';
export * from './queue-telemetry.ts';
