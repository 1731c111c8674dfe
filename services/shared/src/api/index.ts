// The public HTTP API's request and response schemas (TypeBox), served as OpenAPI by the orchestrator.
export * from './common.ts';
export * from './tenancy.ts';
export * from './threads.ts';
