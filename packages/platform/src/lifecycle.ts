// Process lifecycle shared by every main.ts: close on SIGTERM/SIGINT within a deadline, exit 0.
// The deadline comes from the one shutdown budget ([cluster] shutdown_grace_ms, the supervisor's grace
// period before SIGKILL): `shutdownBudget` splits it so the process exits on its own before SIGKILL.
import type { Logger } from 'pino';

export type Closer = { name: string; close: () => Promise<unknown> };

/**
 * Runs the closers in order on the first SIGTERM or SIGINT; exits 0 when all finished, 1 when
 * one failed or the deadline passed (so an orchestrator's kill does not look like a clean stop).
 */
export function closeOnSignals(logger: Logger, closers: Closer[], deadlineMs = 20_000): void {
  let closing = false;
  const onSignal = async (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown deadline passed');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    let code = 0;
    for (const c of closers) {
      try {
        await c.close();
      } catch (err) {
        code = 1;
        logger.error({ err, part: c.name }, 'close failed');
      }
    }
    logger.info({ code }, 'stopped');
    logger.flush?.();
    process.exit(code);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

export type ShutdownBudget = {
  /** From the signal: closers must be done by then (the process exits 1 past it), before SIGKILL. */
  deadlineMs: number;
  /** From the signal: running work (turns, tunnels) may go on until then; then it is handed over or cut. */
  drainMs: number;
};

/**
 * Splits the supervisor's grace period: a margin for the exit itself (5%, 1-5 s), then a reserve
 * for handing over what still runs and closing connections (25% of the rest, at most 15 s).
 */
export function shutdownBudget(graceMs: number): ShutdownBudget {
  const deadlineMs = graceMs - Math.min(5000, Math.max(1000, Math.floor(graceMs * 0.05)));
  const drainMs = deadlineMs - Math.min(15_000, Math.floor(deadlineMs * 0.25));
  return { deadlineMs, drainMs };
}

/** Wraps a promise-returning close that may hang (BullMQ worker.close on a dead Redis). */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
