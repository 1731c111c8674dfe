export * from './ceilings.ts';
export * from './cluster.ts';
export * from './owners.ts';
export * from './resolve.ts';
export * from './schema.ts';
export * from './validate.ts';
export * from './env-ms.ts';
