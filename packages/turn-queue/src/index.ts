// @paddock/turn-queue: the turn's life in Redis and BullMQ, both halves: scheduler, dispatcher, consumer, approvals.
// Its public surface: every module another package or service imports, and nothing else.
export * from './approvals.ts';
export * from './consumer.ts';
export * from './counting.ts';
export * from './dispatcher.ts';
export * from './scheduler.ts';
export * from './turn-usage.ts';
