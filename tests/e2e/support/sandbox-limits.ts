// Sandbox limits for the whole-cluster suite: small, so several sandboxes fit a 2-core test machine
// (the same values as the worker's own tests, services/sandbox-worker/test/helpers.ts).
import type { SandboxLimits } from '@paddock/sandbox-worker';

export const SMALL_LIMITS: SandboxLimits = {
  cpus: 0.5,
  memoryMb: 192,
  pids: 96,
  tmpMb: 16,
  homeMb: 8,
  lifetimeMs: 30 * 60_000,
};
