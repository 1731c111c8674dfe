// @paddock/testing: dev only: the test harness (real Redis, real Docker, the sandbox image, the fake model, an OTLP receiver).
// Its public surface: every module another package or service imports, and nothing else.
export * from './docker.ts';
export * from './fake-model.ts';
export * from './git-server.ts';
export * from './otlp-receiver.ts';
export * from './ports.ts';
export * from './redis.ts';
export * from './redis-sentinel.ts';
export * from './haproxy.ts';
