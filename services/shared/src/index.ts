// @paddock/shared: the contracts between services and the parts every service uses.
export * from './config/index.ts';
export * from './errors.ts';
export * from './http.ts';
export * from './ids.ts';
export * from './logger.ts';
export * from './lifecycle.ts';
export * from './telemetry.ts';
export * from './tracing.ts';
