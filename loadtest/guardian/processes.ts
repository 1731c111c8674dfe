// Starting and stopping the bench's child processes (fake model, guardian replicas, balancer),
// each by its own pid; every wait is bounded.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { waitFor } from '@paddock/testing';

export type Child = { proc: ChildProcess; stop: () => Promise<void> };

/** The service credential the bench's guardians require and its load generator sends. */
export const BENCH_SERVICE_TOKEN = `bench-${randomBytes(24).toString('hex')}`;

function track(proc: ChildProcess): Child {
  return {
    proc,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await once(proc, 'exit');
      clearTimeout(timer);
    },
  };
}

/** Starts `node script` and resolves with the first JSON line it prints (within `timeoutMs`). */
export async function startAnnouncing(
  script: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 15_000,
): Promise<Child & { announced: Record<string, string> }> {
  const proc = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const child = track(proc);
  const lines = createInterface({ input: proc.stdout! });
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  try {
    for await (const line of lines) {
      if (line.trim().startsWith('{')) return { ...child, announced: JSON.parse(line) };
    }
    throw new Error(`${script} exited before announcing itself`);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a guardian replica and waits for its /healthz. */
export async function startGuardian(script: string, env: NodeJS.ProcessEnv, port: number): Promise<Child> {
  const proc = spawn(process.execPath, [script], {
    env: { ...process.env, PADDOCK_GUARDIAN_SERVICE_TOKEN: BENCH_SERVICE_TOKEN, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const child = track(proc);
  try {
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
      15_000,
      `guardian on port ${port}`,
    );
  } catch (err) {
    await child.stop();
    throw err;
  }
  return child;
}
