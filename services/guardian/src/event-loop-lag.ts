// Event-loop lag of this replica: when the process is CPU-saturated, requests wait unseen in socket
// buffers before any handler runs. Admission sheds while lag is high, and deadlines are counted as
// if each request had already waited that long (its clock started before we could see it).

export type LagMonitor = { readonly lagMs: number; stop(): void };

export function startLagMonitor(intervalMs = 10): LagMonitor {
  let lagMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const tickLagMs = Math.max(0, now - last - intervalMs);
    last = now;
    // Rises at once, decays over a few ticks: one quiet tick does not hide a saturated loop.
    lagMs = Math.max(tickLagMs, lagMs * 0.7);
  }, intervalMs);
  timer.unref();
  return {
    get lagMs() {
      return lagMs;
    },
    stop: () => clearInterval(timer),
  };
}
