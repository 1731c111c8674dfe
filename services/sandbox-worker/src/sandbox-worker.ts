// The sandbox-worker service's composition root: the one module other processes (main.ts, the e2e suite,
// the benchmarks) import; package.json exports it and nothing else of src/.
export { prepareAgentRuntime } from './agent-runtime.ts';
export { poolKey } from './container-spec.ts';
export type { SandboxLimits } from './container-spec.ts';
export { issueExecCredential, putSandboxEgress, removeSandboxEgress, revokeExecCredential } from './egress-store.ts';
export { createHealthServer } from './health.ts';
export { SandboxManager } from './sandbox-manager.ts';
export { createSandboxNetwork, removeSandboxNetwork } from './sandbox-network.ts';
export type { Sandbox } from './sandbox.ts';
export { startWorker } from './worker.ts';
export type { RunningWorker, WorkerOptions } from './worker.ts';
export { sandboxWorkerSettings, usagePricing } from './settings.ts';
export { checkoutIntoSandbox, copyIntoWorkspace, makeWorkTree } from './repo/checkout.ts';
export { planCheckout } from './repo/repo-policy.ts';
export type { RepositorySettings } from './repo/repo-policy.ts';
