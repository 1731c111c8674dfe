export * from './action-hash.ts';
export * from './classify.ts';
export * from './denial-breaker.ts';
export * from './model-messages.ts';
export * from './prefix-rules.ts';
export * from './command-unwrap.ts';
export * from './shell-split.ts';
export * from './trusted-commands.ts';
