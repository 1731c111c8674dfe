// Admission control: at most `maxInFlight` model calls per replica. A review that could not get a
// model answer before its deadline is refused at once (shed), and a queued one is shed as soon as its
// deadline can no longer be met — nothing waits in the queue past the point of usefulness.

export type AdmissionOptions = {
  maxInFlight: number;
  maxQueue: number;
  expectedLatencyMs: number;
  /** Current event-loop lag and the most admission tolerates (a CPU-saturated replica sheds). */
  lagMs?: () => number;
  maxLagMs?: number;
};

export type Admission = {
  /** Resolves true with a slot held (call `release` once), or false: shed. */
  acquire(deadlineAt: number): Promise<boolean>;
  release(): void;
  /** Feeds the model latency estimate (exponentially weighted). */
  observeLatency(ms: number): void;
  readonly inFlight: number;
  readonly queued: number;
  readonly expectedLatencyMs: number;
};

type Waiter = { deadlineAt: number; resolve: (admitted: boolean) => void; timer: NodeJS.Timeout };

const EWMA_WEIGHT = 0.2;

export function createAdmission(opts: AdmissionOptions): Admission {
  let inFlight = 0;
  let expectedLatencyMs = opts.expectedLatencyMs;
  const queue: Waiter[] = [];

  const remove = (w: Waiter) => {
    const at = queue.indexOf(w);
    if (at >= 0) queue.splice(at, 1);
    clearTimeout(w.timer);
  };

  return {
    acquire(deadlineAt) {
      const now = performance.now();
      if (opts.lagMs && opts.maxLagMs !== undefined && opts.lagMs() > opts.maxLagMs) {
        return Promise.resolve(false);
      }
      if (inFlight < opts.maxInFlight && queue.length === 0) {
        inFlight++;
        return Promise.resolve(true);
      }
      // Slots free up about every latency / maxInFlight; this one starts after those ahead of it.
      const waitMs = Math.ceil((queue.length + 1) / opts.maxInFlight) * expectedLatencyMs;
      if (queue.length >= opts.maxQueue || now + waitMs + expectedLatencyMs > deadlineAt) {
        return Promise.resolve(false);
      }
      return new Promise<boolean>((resolve) => {
        const waiter: Waiter = {
          deadlineAt,
          resolve,
          // Past this point even an immediate start would miss the deadline: shed now, not at the deadline.
          timer: setTimeout(
            () => {
              remove(waiter);
              resolve(false);
            },
            Math.max(0, deadlineAt - expectedLatencyMs - now),
          ),
        };
        queue.push(waiter);
      });
    },
    release() {
      inFlight--;
      while (queue.length > 0 && inFlight < opts.maxInFlight) {
        const next = queue.shift()!;
        clearTimeout(next.timer);
        if (performance.now() + expectedLatencyMs > next.deadlineAt) {
          next.resolve(false);
          continue;
        }
        inFlight++;
        next.resolve(true);
      }
    },
    observeLatency(ms) {
      expectedLatencyMs = expectedLatencyMs + EWMA_WEIGHT * (ms - expectedLatencyMs);
    },
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return queue.length;
    },
    get expectedLatencyMs() {
      return expectedLatencyMs;
    },
  };
}
