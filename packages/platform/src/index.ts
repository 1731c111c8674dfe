// @paddock/platform: the plumbing every service uses: errors, HTTP error handling, ids, logger, telemetry, tracing, lifecycle, Redis server kinds, sandbox images.
// Its public surface: every module another package or service imports, and nothing else.
export * from './errors.ts';
export * from './http.ts';
export * from './ids.ts';
export * from './images.ts';
export * from './lifecycle.ts';
export * from './logger.ts';
export * from './redis-client.ts';
export * from './redis-server.ts';
export * from './telemetry.ts';
export * from './tracing.ts';
