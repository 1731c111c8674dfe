// The guardian service's composition root: the one module other processes (main.ts, the e2e suite,
// the benchmarks) import; package.json exports it and nothing else of src/.
export { buildApp } from './app.ts';
export { DEFAULT_POLICY } from './review-policy.ts';
export { GUIDANCE_HEADING } from './prompt.ts';
export type { GuardianSettings } from './settings.ts';
export { guardianSettings } from './settings.ts';
